"""The Character Management Service's tables, all in its own PostgreSQL schema `character`.

Characters, actions and spoken words are independent lists, each row belonging to an account
(`owner`, fountain_common/ownership.py). A paraphrase belongs to exactly one of
them: the paraphrases table has one nullable foreign key per parent kind and a CHECK that exactly one
is set, so the database itself refuses an orphan or a paraphrase of two parents, and deleting a
parent deletes its paraphrases (ON DELETE CASCADE); a paraphrase belongs to its parent's owner. Lengths match the spec's maxLength/minLength.
"""

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    func,
)

from fountain_common.idempotency import idempotency_table
from fountain_common.ownership import OWNER_MAX_LENGTH, UNOWNED

SCHEMA = "character"
metadata = MetaData(schema=SCHEMA)

NAME_LENGTH = 200
TEXT_LENGTH = 10000


def _change_tracking() -> list[Column[object]]:
    """Columns every changeable row has: the revision /v2 answers as its ETag, and timestamps."""
    return [
        Column("revision", BigInteger, nullable=False, server_default="1"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


def _owner() -> Column[str]:
    """Whose row it is; rows made before ownership, or with no identity checked, belong to no account."""
    return Column("owner", String(OWNER_MAX_LENGTH), nullable=False, server_default=UNOWNED)


characters = Table(
    "characters",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", String(NAME_LENGTH), nullable=False),
    Column("description", String(TEXT_LENGTH), nullable=False),
    *_change_tracking(),
    _owner(),
    CheckConstraint("char_length(name) >= 1", name="characters_name_not_empty"),
    Index("characters_owner_id_idx", "owner", "id"),  # one account's rows in id order
)

actions = Table(
    "actions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("description", String(TEXT_LENGTH), nullable=False),
    *_change_tracking(),
    _owner(),
    CheckConstraint("char_length(description) >= 1", name="actions_description_not_empty"),
    Index("actions_owner_id_idx", "owner", "id"),  # one account's rows in id order
)

spoken_words = Table(
    "spoken_words",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("text", String(TEXT_LENGTH), nullable=False),
    *_change_tracking(),
    _owner(),
    CheckConstraint("char_length(text) >= 1", name="spoken_words_text_not_empty"),
    Index("spoken_words_owner_id_idx", "owner", "id"),  # one account's rows in id order
)

paraphrases = Table(
    "paraphrases",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("character_id", BigInteger, ForeignKey(characters.c.id, ondelete="CASCADE"), nullable=True),
    Column("action_id", BigInteger, ForeignKey(actions.c.id, ondelete="CASCADE"), nullable=True),
    Column("spoken_word_id", BigInteger, ForeignKey(spoken_words.c.id, ondelete="CASCADE"), nullable=True),
    Column("text", String(TEXT_LENGTH), nullable=False),
    Column("commentary", String(TEXT_LENGTH), nullable=False),
    *_change_tracking(),
    CheckConstraint("num_nonnulls(character_id, action_id, spoken_word_id) = 1", name="paraphrases_one_original"),
    CheckConstraint("char_length(text) >= 1", name="paraphrases_text_not_empty"),
    # Lists of one parent's paraphrases, in id order; also serve the cascading deletes.
    Index("paraphrases_character_id_idx", "character_id", "id"),
    Index("paraphrases_action_id_idx", "action_id", "id"),
    Index("paraphrases_spoken_word_id_idx", "spoken_word_id", "id"),
)

idempotency_keys = idempotency_table(metadata)
