"""The embedded default (SQLite) runs the same message services: the send path's statements
go straight to the driver (services/rawsql.py), so they are checked on both databases.

The tests are the MariaDB ones from test_chat_services.py, test_groups.py and
test_lifecycle.py (all but the races, which need InnoDB's row locks, and the role table, which
is the same logic), run here against a migrated SQLite file through a local ``db`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from chatapp import db as chat_db
from chatapp.services import messages as msgs
from tests.conftest import session_then_empty
from tests.services.test_chat_services import (  # noqa: F401  (collected here, on SQLite)
    test_client_id_reused_in_another_conversation_is_refused,
    test_client_ids_are_unique_per_sender_not_globally,
    test_image_messages_carry_the_image_size,
    test_image_size_is_zero_once_the_message_or_the_image_is_gone,
    test_leading_and_trailing_whitespace_is_trimmed_in_storage,
    test_messages_after,
    test_outsiders_can_neither_send_nor_read,
    test_page_tells_who_sent_the_message_before_it_and_when,
    test_pages_cover_every_message_exactly_once,
    test_search_people_escapes_like_wildcards,
    test_search_people_needs_two_characters,
    test_search_people_returns_at_most_20_ordered_by_username,
    test_send_is_idempotent_per_client_id,
    test_send_message_alone_claims_the_senders_image,
    test_send_message_alone_commits_on_its_own_and_is_idempotent,
    test_send_message_alone_refusals_change_nothing,
    test_send_stores_message_and_updates_markers,
    test_sidebar_orders_by_latest_activity_with_previews,
    test_unread_counts_and_mark_read,
)
from tests.services.test_groups import (  # noqa: F401  (collected here, on SQLite)
    test_a_failed_update_changes_nothing_at_all,
    test_a_former_members_sidebar_does_not_move_with_the_groups_new_messages,
    test_a_member_added_later_in_the_same_session_as_earlier_sends,
    test_a_member_added_later_reads_from_when_they_were_added,
    test_a_member_leaving_keeps_the_owner,
    test_a_member_who_left_and_is_added_again_reads_from_the_return,
    test_a_removed_admin_comes_back_as_a_member,
    test_a_removed_member_keeps_the_history_up_to_the_removal,
    test_adding_a_current_member_changes_nothing,
    test_create_group,
    test_create_group_alone,
    test_create_group_name_errors_name_the_field,
    test_create_group_name_must_be_1_to_64_characters_after_cleaning,
    test_create_group_names_at_the_limits,
    test_create_group_picture_must_be_the_creators_avatar_upload,
    test_create_group_refuses_unknown_people,
    test_create_group_up_to_256_members,
    test_delete_group,
    test_delete_group_is_for_the_owner_only,
    test_group_info,
    test_group_picture,
    test_leaving_a_direct_conversation_is_refused,
    test_leaving_alone_archives,
    test_leaving_twice_is_a_no_op,
    test_members_can_add_setting,
    test_owner_leaving_passes_the_group_to_the_longest_standing_admin,
    test_owner_leaving_ties_between_admins_go_to_the_smaller_id,
    test_owner_leaving_without_admins_passes_to_the_longest_standing_member,
    test_refusals_are_not_allowed_for_outsiders_and_former_members,
    test_removing_someone_not_in_the_group_changes_nothing,
    test_rename,
    test_role_changes_refused_outside_the_table,
    test_role_lines_and_events,
    test_setting_the_same_role_changes_nothing,
    test_stored_sends_are_announced_again_only_to_who_may_read_them,
    test_the_last_member_leaving_archives_and_deletes_nothing,
    test_transfer_ownership,
    test_unread_counts_stay_within_a_former_members_window,
    test_updating_to_the_same_values_changes_nothing,
)
from tests.services.test_lifecycle import (  # noqa: F401  (collected here, on SQLite)
    test_a_deleted_image_is_unlinked,
    test_a_deleted_message_is_not_edited,
    test_a_former_member_edits_nothing,
    test_a_groups_moderators_delete_anyones_message,
    test_a_long_quote_is_cut,
    test_a_member_added_later_sees_no_quote_of_what_came_before,
    test_a_member_does_not_delete_others_messages,
    test_a_message_sent_yesterday_is_not_edited,
    test_a_quote_of_a_deleted_message_says_deleted,
    test_a_reply_carries_its_quote,
    test_a_system_line_is_not_deleted,
    test_an_image_another_message_carries_stays,
    test_change_events_go_to_the_current_members_who_read_the_message,
    test_change_seq_counts_changes_per_conversation,
    test_changes_after_is_incomplete_past_the_limit,
    test_changes_after_returns_what_changed_after_n_in_order,
    test_changes_after_stays_within_the_readers_window,
    test_changes_carry_the_image_size,
    test_delete_own_message,
    test_deleting_twice,
    test_direct_conversations_delete_only_own,
    test_edit_an_image_caption_and_clear_it,
    test_edit_length_limit,
    test_edit_own_message,
    test_edit_within_24_hours_only,
    test_editing_to_the_same_text_changes_nothing,
    test_edits_keep_every_old_text_and_never_show_it,
    test_empty_text_is_refused,
    test_every_offered_reaction_round_trips,
    test_no_reaction_on_a_deleted_message,
    test_only_the_offered_reactions,
    test_only_the_sender_edits,
    test_own_messages_are_deleted_at_any_time,
    test_reactions_only_by_readers_of_the_message,
    test_reactions_toggle_per_person_with_counts,
    test_reactors_lines,
    test_refused_and_empty_changes_publish_nothing,
    test_reply_target_only_within_the_readers_window_and_conversation,
    test_system_lines_and_strangers_messages_are_not_edited,
)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "chat.db"
    url = f"sqlite:///{path}"
    chat_db.upgrade(url)
    engine = chat_db.make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def db(sqlite_engine: sa.Engine) -> Iterator[Session]:
    # SQLite gives the ids of deleted rows out again (MariaDB does not): once the tables are
    # emptied, conversation 1 of the next test is another conversation, so the send path's
    # memory of direct conversations' members (never deleted in the app) is forgotten too.
    msgs._direct_members.clear()
    yield from session_then_empty(sqlite_engine)


def test_sent_message_time_reads_back_as_stored(db: Session) -> None:
    """SQLite keeps datetimes as text: the raw path must write SQLAlchemy's format."""
    from chatapp.services import accounts
    from chatapp.services import conversations as convs
    from chatapp.services import messages as msgs

    a = accounts.sign_up(session=db, username="ann", email="ann@example.com", password="pw-123456")
    b = accounts.sign_up(session=db, username="ben", email="ben@example.com", password="pw-123456")
    conv = convs.open_direct(session=db, user_id=a.id, other_user_id=b.id)
    sent = msgs.send_message(
        session=db, sender_id=a.id, conversation_id=conv, body="hi", client_id="cid-00000001"
    )
    db.commit()
    page = msgs.list_messages(session=db, user_id=b.id, conversation_id=conv)
    assert [m.id for m in page.items] == [sent.message.id]
    got = page.items[0].created_at.replace(tzinfo=None)
    assert got == sent.message.created_at.replace(tzinfo=None)
