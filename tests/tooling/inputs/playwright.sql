CREATE TABLE playwright (
    author_id serial PRIMARY KEY,
    name varchar NOT NULL,
    biography text,
    contact_information text
);
