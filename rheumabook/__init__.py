"""rheumabook: the helper package of RheumaBook, an executable book that reproduces
RheumaVIT (Stolpovsky et al., ICCV workshops 2023), automated Sharp scoring of
hand radiographs in rheumatoid arthritis.

One concept per module, a sub-package where a stage has several parts; ARCHITECTURE.md
at the repository root is the map (radiograph -> hands -> boxes -> crops -> scores).
"""

__version__ = "0.1.0"
