"""``PeoplePanel``: the proposed people among a gallery's unknown faces, to name.

One card per proposal (:meth:`Gallery.cluster_unknowns`): its best faces as thumbnails,
the enrolled person it looks like, a name field with **Name**, **Discard**, **Merge
with** another proposal and **Move out** one face. Every action is one gallery
transaction (the same calls as ``workbench name/discard/merge/move-out``); an error is
shown on the card that caused it, and the cards are rebuilt after each action.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from workbench.errors import GalleryError
from workbench.ui.common import ErrorLog, message_html

if TYPE_CHECKING:
    from workbench.gallery import Gallery
    from workbench.gallery.proposals import ProposedPerson

#: Thumbnails shown per proposal (its best faces).
FACES_SHOWN = 6
NO_UNKNOWNS = (
    "no unknown faces yet: `workbench recognize`, `workbench live` and `workbench cluster "
    "DIR` keep the faces they cannot name"
)


class ProposalCard:
    """The widgets of one proposal (attributes for tests: ``name``, ``name_button``,
    ``discard_button``, ``merge_target``, ``merge_button``, ``face``, ``move_button``,
    ``not_button``, ``note``)."""

    def __init__(self, panel: PeoplePanel, proposal: ProposedPerson, others: list[int]) -> None:
        import ipywidgets as w

        self.proposal = proposal
        near = f" &middot; {html.escape(str(proposal.near))}" if proposal.near else ""
        self.title = w.HTML(f"<b>proposal {proposal.id}</b>: {len(proposal.faces)} faces{near}")
        self.thumbs = w.HBox(
            [
                w.Image(value=f.thumbnail, format="jpeg", width=64, height=64)
                for f in proposal.faces[:FACES_SHOWN]
                if f.thumbnail
            ]
        )
        self.name = w.Text(placeholder="who is this?", layout=w.Layout(width="220px"))
        self.name_button = w.Button(description="Name", button_style="success")
        self.discard_button = w.Button(description="Discard", button_style="danger")
        self.merge_target = w.Dropdown(options=others, value=others[0] if others else None)
        self.merge_button = w.Button(description="Merge with", disabled=not others)
        self.face = w.Dropdown(options=proposal.face_ids, value=proposal.face_ids[-1])
        self.move_button = w.Button(description="Move out")
        # "This is not X" for the person the proposal looks like: a correction the
        # decision keeps (Gallery.reject with the proposal's faces).
        near_name = proposal.near.name if proposal.near is not None else None
        self.not_button = w.Button(
            description=f"Not {near_name}" if near_name else "Not them", disabled=not near_name
        )
        self.note = w.HTML()
        errors = panel.errors
        self.name_button.on_click(errors.guard(lambda _b: panel.name(self), near=self.note))
        self.discard_button.on_click(errors.guard(lambda _b: panel.discard(self), near=self.note))
        self.merge_button.on_click(errors.guard(lambda _b: panel.merge(self), near=self.note))
        self.move_button.on_click(errors.guard(lambda _b: panel.move_out(self), near=self.note))
        self.not_button.on_click(errors.guard(lambda _b: panel.not_near(self), near=self.note))
        self.widget = w.VBox(
            [
                self.title,
                self.thumbs,
                w.HBox([self.name, self.name_button, self.discard_button, self.not_button]),
                w.HBox([self.merge_button, self.merge_target, self.move_button, self.face]),
                self.note,
            ],
            layout=w.Layout(border="1px solid #ddd", padding="6px", margin="4px 0"),
        )


class PeoplePanel:
    """Name the people a gallery has seen but nobody has named.

    Args:
        gallery: an open :class:`~workbench.gallery.Gallery`.

    Example:
        >>> PeoplePanel(gallery).widget  # doctest: +SKIP
    """

    def __init__(self, gallery: Gallery) -> None:
        import ipywidgets as w

        self.gallery = gallery
        self.output = w.Output()
        self.errors = ErrorLog(self.output)
        self.status = w.HTML()
        self.refresh_button = w.Button(description="Refresh")
        self.refresh_button.on_click(self.errors.guard(lambda _b: self.refresh()))
        self.cards_box = w.VBox()
        self.cards: list[ProposalCard] = []
        self.widget = w.VBox(
            [w.HBox([self.refresh_button, self.status]), self.cards_box, self.output]
        )
        self.refresh()

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)

    def refresh(self) -> None:
        """Cluster the unknowns again and rebuild the cards."""
        try:
            proposals = self.gallery.cluster_unknowns()
        except GalleryError as exc:
            if "no unknown faces" not in str(exc):
                raise
            self.cards = []
            self.cards_box.children = ()
            self.status.value = message_html(NO_UNKNOWNS, italic=True)
            return
        ids = [c.id for c in proposals.clusters]
        self.cards = [
            ProposalCard(self, c, [i for i in ids if i != c.id]) for c in proposals.clusters
        ]
        self.cards_box.children = tuple(c.widget for c in self.cards)
        self.status.value = message_html(str(proposals))

    def name(self, card: ProposalCard) -> None:
        result = self.gallery.name_proposal(card.proposal.id, card.name.value)
        self.refresh()
        self.status.value = message_html(str(result), colour="green")

    def discard(self, card: ProposalCard) -> None:
        from workbench.gallery.removal import remove_unknowns

        n = remove_unknowns(self.gallery, lambda: self.gallery.discard_proposal(card.proposal.id))
        self.refresh()
        self.status.value = message_html(f"discarded {n} faces for good")

    def merge(self, card: ProposalCard) -> None:
        merged = self.gallery.merge_proposals(card.proposal.id, card.merge_target.value)
        self.refresh()
        self.status.value = message_html(f"merged into proposal {merged}")

    def move_out(self, card: ProposalCard) -> None:
        self.gallery.move_face_out(card.face.value)
        self.refresh()
        self.status.value = message_html(f"face {card.face.value} is on its own now")

    def not_near(self, card: ProposalCard) -> None:
        near = card.proposal.near
        if near is None:
            from workbench.errors import InvalidArgumentError

            raise InvalidArgumentError("this proposal looks like nobody enrolled")
        _, vectors = self.gallery.unknown_embeddings(card.proposal.face_ids)
        self.gallery.reject(vectors, near.name, source=f"proposal {card.proposal.id}")
        self.refresh()
        self.status.value = message_html(f"noted: proposal {card.proposal.id} is not {near.name}")

    @property
    def last_error(self) -> str | None:
        return self.errors.last

    def __repr__(self) -> str:
        return f"PeoplePanel({len(self.cards)} proposals)"
