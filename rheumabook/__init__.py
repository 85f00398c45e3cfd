"""rheumabook: the helper package of RheumaBook, an executable book that reproduces
RheumaVIT (Stolpovsky et al., ICCV workshops 2023), automated Sharp scoring of
hand radiographs in rheumatoid arthritis.

One module per concept: `joints`, `phantom`, `disease`, `raters`, `data`,
`aggregate`, `metrics`, `profiles`, `preprocess`, `localize`, `viz`, `book`.
"""

__version__ = "0.1.0"
