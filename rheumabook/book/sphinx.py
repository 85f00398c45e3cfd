"""`rheumabook.book` as a Sphinx extension (listed under sphinx.extra_extensions in _config.yml).

An ipywidgets view (a control, or the notebook progress bar that `tqdm.auto` draws in a
kernel) needs a live kernel, or saved state plus JavaScript from a CDN, to draw; in a static
page it is an empty box or "Loading widget...", and its text fallback is stale (a tqdm bar's
says 0%). So each such output loses its widget view and text fallback, keeping any other
rendering (an image) it carried; an output left with nothing is removed. Chapters put a static
figure beside any interactive control, and tests/test_book.py checks the rendered pages in a
browser. Sphinx and docutils are imported only when Sphinx loads the extension.
"""
from __future__ import annotations

from typing import Any

__all__ = ["WIDGET_VIEW_MIME", "setup", "drop_widget_views", "drop_duplicate_scripts"]

WIDGET_VIEW_MIME = "application/vnd.jupyter.widget-view+json"


def drop_widget_views(document: Any) -> None:
    """Remove widget views (and their text fallback) from the notebook outputs of a docutils `document`."""
    from docutils import nodes

    def is_bundle(node: Any) -> bool:
        return isinstance(node, nodes.container) and node.get("nb_element") == "mime_bundle"

    for bundle in list(document.findall(is_bundle)):
        mimes = [child.get("mime_type") for child in bundle.children]
        if WIDGET_VIEW_MIME not in mimes:
            continue
        for child in list(bundle.children):
            if child.get("mime_type") in (WIDGET_VIEW_MIME, "text/plain"):
                bundle.remove(child)
        parent = bundle.parent
        if not bundle.children:
            parent.remove(bundle)
        # A cell output left empty would still draw an empty box.
        while (isinstance(parent, nodes.container) and not parent.children
               and parent.parent is not None and "cell_output" in parent.get("classes", [])):
            grand = parent.parent
            grand.remove(parent)
            parent = grand


def drop_duplicate_scripts(app: Any, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """"html-page-context" handler: emit each script of the page once.

    sphinx-thebe 0.3.1 adds its inline configuration script after the HTML builder has
    started, and Sphinx 7.4 then emits it twice: the second copy re-declares a `const` and
    every page logs "Identifier 'THEBE_JS_URL' has already been declared". The copies differ
    only in filename None vs "" (inline scripts), so they are compared without it.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[str] = set()
    unique: list[Any] = []
    for script in scripts:
        key = repr((getattr(script, "filename", script) or "", getattr(script, "priority", 0),
                    sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique  # in place: the builder resets this list for every page


def setup(app: Any) -> dict[str, Any]:
    """Make `rheumabook.book` a Sphinx extension: widget outputs leave the static HTML, scripts load once."""
    from sphinx.transforms.post_transforms import SphinxPostTransform

    class DropWidgetViews(SphinxPostTransform):
        """Remove widget views (and their text fallback) from notebook outputs."""

        default_priority = 3  # before myst-nb's SelectMimeType (4) would pick the text fallback

        def run(self, **kwargs: Any) -> None:
            drop_widget_views(self.document)

    app.add_post_transform(DropWidgetViews)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)  # after other extensions add theirs
    return {"parallel_read_safe": True, "parallel_write_safe": True}
