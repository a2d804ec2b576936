"""Tags, per user, unique by name."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, Response, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter

from reflective_app.dto.tags import tag_view
from reflective_app.injected import Caller
from reflective_app.openapi import BEARER_AUTH, documented
from reflective_app.parameters import Offset, TagId
from reflective_domain.tags import MAX_TAG_PAGE
from reflective_domain.use_cases.tags import CleanupTags, CreateTag, DeleteTag, ListTags, UpdateTag
from reflective_protocol.errors import ErrorCode
from reflective_protocol.tags import CleanupResponse, CreateTagRequest, TagView, UpdateTagRequest


class TagController(Controller):
    path = "/api/tags"
    tags = ["tags"]
    security = BEARER_AUTH

    @get(operation_id="list_tags", **documented("List your tags"))
    async def list_tags(
        self,
        caller: Caller,
        list_tags: NamedDependency[ListTags],
        limit: Annotated[
            int,
            Parameter(
                description=f"Tags per page, 1..{MAX_TAG_PAGE}",
                schema_extra={"minimum": 1, "maximum": MAX_TAG_PAGE},
            ),
        ] = MAX_TAG_PAGE,
        offset: Offset = 0,
    ) -> list[TagView]:
        """The user's tags, by name; ``limit`` (1..1000, default 1000) and ``offset`` page
        through them. A user holds at most MAX_TAGS_PER_USER tags (1000 by default)."""
        tags = await list_tags(caller.user_id, limit, offset, token_issued_at=caller.issued_at)
        return [tag_view(tag) for tag in tags]

    @post(
        operation_id="create_tag",
        **documented("Create a tag", ErrorCode.QUOTA_EXCEEDED),
        responses={200: ResponseSpec(TagView, description="A tag of that name already existed")},
    )
    async def create_tag(
        self,
        caller: Caller,
        data: JSONBody[CreateTagRequest],
        create_tag: NamedDependency[CreateTag],
    ) -> Response[TagView]:
        """Create a tag (201), or answer the user's existing tag of the same name (200): names
        compare case- and whitespace-insensitively. 413 beyond the tags a user may hold."""
        tag, created = await create_tag(
            caller.user_id, data.name, data.color, token_issued_at=caller.issued_at
        )
        return Response(tag_view(tag), status_code=201 if created else 200)

    @delete(
        "/cleanup",
        status_code=200,
        operation_id="cleanup_tags",
        **documented("Delete tags unused for some days"),
    )
    async def cleanup(
        self,
        caller: Caller,
        cleanup_tags: NamedDependency[CleanupTags],
        days: Annotated[
            int,
            Parameter(
                description="Delete tags unused for at least this many days, 1..36500",
                schema_extra={"minimum": 1, "maximum": 36_500},
            ),
        ] = 30,
    ) -> CleanupResponse:
        """Delete the tags unused for ``days`` days (1..36500, default 30)."""
        deleted = await cleanup_tags(caller.user_id, days, token_issued_at=caller.issued_at)
        return CleanupResponse(
            message=f"Deleted {deleted} tags unused for {days} days", deleted_count=deleted
        )

    @patch(
        "/{tag_id:uuid}",
        operation_id="update_tag",
        **documented("Rename or recolour a tag", ErrorCode.NOT_FOUND, ErrorCode.ALREADY_EXISTS),
    )
    async def update_tag(
        self,
        caller: Caller,
        tag_id: TagId,
        data: JSONBody[UpdateTagRequest],
        update_tag: NamedDependency[UpdateTag],
    ) -> TagView:
        """Rename and/or recolour a tag; 409 if the new name is taken, 404 if unknown."""
        tag = await update_tag(
            caller.user_id,
            tag_id,
            data.name,
            data.color,
            data.used,
            token_issued_at=caller.issued_at,
        )
        return tag_view(tag)

    @delete(
        "/{tag_id:uuid}",
        status_code=204,
        operation_id="delete_tag",
        **documented("Delete a tag", ErrorCode.NOT_FOUND),
    )
    async def delete_tag(
        self, caller: Caller, tag_id: TagId, delete_tag: NamedDependency[DeleteTag]
    ) -> None:
        """Delete a tag; 404 if unknown."""
        await delete_tag(caller.user_id, tag_id, token_issued_at=caller.issued_at)
