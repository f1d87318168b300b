"""The Core Script Management Service's tables, all in its own PostgreSQL schema `core_script`.

The bounds of the spec are repeated as constraints, so the database refuses what the API refuses.
A script owns its section headings and story lines (ON DELETE CASCADE); a line's heading must belong
to the line's script (a foreign key over both columns). A script belongs to an account (`owner`), and
its headings and lines with it; the accounts it is shared with are in `script_shares`.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from fountain_common.idempotency import idempotency_table
from fountain_common.ownership import OWNER_MAX_LENGTH

SCHEMA = "core_script"
metadata = MetaData(schema=SCHEMA)

TITLE_MAX_LENGTH = 200
AUTHOR_MAX_LENGTH = 200
DESCRIPTION_MAX_LENGTH = 10000
FILE_PATH_MAX_LENGTH = 1000
MAX_LINES_PER_SCRIPT = 10000
SCENE_NUMBER_MAX_LENGTH = 20
EXTENSION_MAX_LENGTH = 50
MAX_EXTENSIONS = 5

# The screenplay elements a story line can be (the spec's ElementKind), and the columns each one
# fills: the database refuses a line whose columns do not fit its kind.
ELEMENT_KINDS = (
    "action",
    "dialogue",
    "transition",
    "centered",
    "pageBreak",
    "note",
    "lyrics",
    "section",
    "synopsis",
)
TEXT_KINDS = ("transition", "centered", "note", "lyrics", "section", "synopsis")
SECTION_MAX_DEPTH = 6
ELEMENT_SHAPE = (
    "CASE kind"
    " WHEN 'action' THEN action_id IS NOT NULL AND character_id IS NULL AND spoken_word_id IS NULL"
    " WHEN 'dialogue' THEN character_id IS NOT NULL AND spoken_word_id IS NOT NULL"
    " WHEN 'pageBreak' THEN action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL"
    " ELSE text IS NOT NULL AND action_id IS NULL AND character_id IS NULL AND spoken_word_id IS NULL END"
    " AND (kind = 'dialogue' OR (context_id IS NULL AND extensions = '[]'::jsonb AND parentheticals = '[]'::jsonb))"
    f" AND (kind IN {TEXT_KINDS!r} OR text IS NULL)"
)
# The right-hand side of a dual dialogue is a dialogue with no action before its cue (and has its
# partner, a dialogue not dual itself, just before it: deferred constraint triggers of migration 0008,
# which a table definition cannot hold); a section, and
# only a section, has a depth.
DUAL_DIALOGUE = "NOT dual OR (kind = 'dialogue' AND action_id IS NULL)"
# A cue's extensions: a list of strings as the spec bounds each one.
EXTENSIONS = (
    f"jsonb_typeof(extensions) = 'array' AND jsonb_array_length(extensions) <= {MAX_EXTENSIONS}"
    " AND NOT jsonb_path_exists(extensions, "
    f'\'$[*] ? (@.type() != "string" || !(@ like_regex "^[^()\\r\\n]{{1,{EXTENSION_MAX_LENGTH}}}$"))\')'
)
SECTION_DEPTH = (
    f"(kind = 'section') = (depth IS NOT NULL) AND (depth IS NULL OR depth BETWEEN 1 AND {SECTION_MAX_DEPTH})"
)


def _tracking() -> list[Column[object]]:
    return [
        # Bumped on every change to the row; the ETag of /v2.
        Column("revision", BigInteger, nullable=False, server_default="1"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ]


scripts = Table(
    "scripts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("title", Text, nullable=False),
    Column("author", Text, nullable=False, server_default=""),
    Column("description", Text, nullable=False, server_default=""),
    Column("csound_file_path", Text, nullable=False, server_default=""),
    Column("lilypond_file_path", Text, nullable=False, server_default=""),
    Column("midi_file_path", Text, nullable=False, server_default=""),
    # The number the Central Sequence Service gave the script (elementType script) in its catalogue
    # of scripts, the scope /v1 numbers in.
    Column("sequence_number", BigInteger, nullable=False),
    # Whether the script's numbering scope in the Central Sequence Service (script-{id}: the script
    # at 1, its headings from 2) is known to hold its headings. Scripts made before scopes existed
    # start without one; the first change to their headings builds it (scopes.reconcile_scope).
    Column("sections_scoped", Boolean, nullable=False, server_default=false()),
    # The title page: [{"key", "value"}, ...] in the order written.
    Column("title_page", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # The account the script belongs to ('' for none: fountain_common/ownership.py).
    Column("owner", String(OWNER_MAX_LENGTH), nullable=False, server_default=""),
    *_tracking(),
    CheckConstraint(f"char_length(title) BETWEEN 1 AND {TITLE_MAX_LENGTH}", name="scripts_title_length"),
    CheckConstraint(f"char_length(author) <= {AUTHOR_MAX_LENGTH}", name="scripts_author_length"),
    CheckConstraint(f"char_length(description) <= {DESCRIPTION_MAX_LENGTH}", name="scripts_description_length"),
    CheckConstraint(
        f"char_length(csound_file_path) <= {FILE_PATH_MAX_LENGTH} AND char_length(lilypond_file_path) <= "
        f"{FILE_PATH_MAX_LENGTH} AND char_length(midi_file_path) <= {FILE_PATH_MAX_LENGTH}",
        name="scripts_file_path_length",
    ),
    CheckConstraint("sequence_number >= 1", name="scripts_sequence_number_positive"),
    # An account's scripts in id order.
    Index("scripts_owner_idx", "owner", "id"),
)

SHARE_ROLES = ("reader", "writer")

# The accounts a script is shared with, besides its owner: a reader reads it, a writer reads and
# changes it (not its shares).
script_shares = Table(
    "script_shares",
    metadata,
    Column("script_id", BigInteger, ForeignKey(scripts.c.id, ondelete="CASCADE"), primary_key=True),
    Column("account", String(OWNER_MAX_LENGTH), primary_key=True),
    Column("role", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(f"role IN {SHARE_ROLES!r}", name="script_shares_role"),
    # The scripts shared with an account (its lists).
    Index("script_shares_account_idx", "account", "script_id"),
)

section_headings = Table(
    "section_headings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("script_id", BigInteger, ForeignKey(scripts.c.id, ondelete="CASCADE"), nullable=False),
    Column("title", Text, nullable=False),
    # The number the Central Sequence Service holds for the heading (elementType section) in the
    # script's scope: 2..n+1 in story order, the script itself being 1. Unique within the script; the
    # check runs at the end of each statement, so one UPDATE can permute them.
    Column("sequence_number", BigInteger, nullable=False),
    # The scene number written beside a scene heading (Fountain's `#12A#`), when there is one.
    Column("scene_number", Text, nullable=True),
    *_tracking(),
    CheckConstraint(f"char_length(title) BETWEEN 1 AND {TITLE_MAX_LENGTH}", name="section_headings_title_length"),
    CheckConstraint(
        f"char_length(scene_number) BETWEEN 1 AND {SCENE_NUMBER_MAX_LENGTH}",
        name="section_headings_scene_number_length",
    ),
    CheckConstraint("sequence_number >= 2", name="section_headings_after_the_script"),
    # Also the index that lists a script's headings in order.
    UniqueConstraint(
        "script_id",
        "sequence_number",
        name="section_headings_sequence_number_key",
        deferrable=True,
        initially="IMMEDIATE",
    ),
    # The target of story_lines' foreign key over (heading, script).
    UniqueConstraint("id", "script_id", name="section_headings_id_script_key"),
)

story_lines = Table(
    "story_lines",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("script_id", BigInteger, ForeignKey(scripts.c.id, ondelete="CASCADE"), nullable=False),
    Column("heading_id", BigInteger, nullable=False),
    # 1..n within the heading, without gaps; unique per heading, checked at the end of each statement
    # so one UPDATE can shift a run of lines.
    Column("position", Integer, nullable=False),
    Column("kind", Text, nullable=False, server_default="dialogue"),
    Column("character_id", BigInteger, nullable=True),
    Column("action_id", BigInteger, nullable=True),
    Column("spoken_word_id", BigInteger, nullable=True),
    Column("context_id", BigInteger, nullable=True),
    # ["V.O.", "CONT'D"] of a dialogue's cue, each as written.
    Column("extensions", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # [{"beforeLine", "text"}, ...] of a dialogue.
    Column("parentheticals", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("text", Text, nullable=True),
    # Whether a dialogue is the right-hand side of a dual dialogue with the dialogue before it.
    Column("dual", Boolean, nullable=False, server_default=false()),
    # A section's depth (Fountain's number of `#`).
    Column("depth", SmallInteger, nullable=True),
    *_tracking(),
    ForeignKeyConstraint(
        ["heading_id", "script_id"],
        [section_headings.c.id, section_headings.c.script_id],
        ondelete="CASCADE",
        name="story_lines_heading_fkey",
    ),
    UniqueConstraint(
        "heading_id", "position", name="story_lines_heading_position_key", deferrable=True, initially="IMMEDIATE"
    ),
    CheckConstraint(f"position BETWEEN 1 AND {MAX_LINES_PER_SCRIPT}", name="story_lines_position_range"),
    CheckConstraint(
        "(character_id IS NULL OR character_id >= 1) AND (action_id IS NULL OR action_id >= 1)"
        " AND (spoken_word_id IS NULL OR spoken_word_id >= 1) AND (context_id IS NULL OR context_id >= 1)",
        name="story_lines_ids_positive",
    ),
    CheckConstraint(f"kind IN {ELEMENT_KINDS!r}", name="story_lines_kind"),
    CheckConstraint(ELEMENT_SHAPE, name="story_lines_element_shape"),
    CheckConstraint(DUAL_DIALOGUE, name="story_lines_dual_dialogue"),
    CheckConstraint(SECTION_DEPTH, name="story_lines_section_depth"),
    CheckConstraint(EXTENSIONS, name="story_lines_extensions"),
    CheckConstraint(
        f"char_length(text) BETWEEN 1 AND {DESCRIPTION_MAX_LENGTH}",
        name="story_lines_text_length",
    ),
    Index("story_lines_script_idx", "script_id"),
)

idempotency_keys = idempotency_table(metadata)

# The id of a script being created, committed before the Central Sequence Service is asked for its
# numbers and deleted in the transaction that stores the script: a create that dies in between
# (process killed, database lost) leaves its row, so a retry with the same Idempotency-Key makes the
# script the first attempt numbered, and `fountain sweep` cleans up after one never retried.
script_reservations = Table(
    "script_reservations",
    metadata,
    Column("script_id", BigInteger, primary_key=True),
    Column("idempotency_key", String(255), nullable=True, unique=True),  # none for a create sent without
    # Whose script it would be: its scope is in that account's namespace, where a sweep deletes it.
    Column("owner", String(OWNER_MAX_LENGTH), nullable=False, server_default=""),
    Column("attempted_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("script_reservations_attempted_at_idx", "attempted_at"),
    comment="Ids of scripts whose create began and has not committed.",
)
