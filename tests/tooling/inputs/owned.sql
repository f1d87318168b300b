-- Two tables, a foreign key and a unique constraint: scaffolded with --auth (tests/tooling/test_scaffold_auth.py).
CREATE TABLE author (
    id serial PRIMARY KEY,
    name text NOT NULL,
    email varchar(200) NOT NULL UNIQUE
);

CREATE TABLE book (
    id serial PRIMARY KEY,
    author_id integer NOT NULL REFERENCES author (id) ON DELETE CASCADE,
    title text NOT NULL
);
