-- A small music store with views, as a sample database's dump declares them: columns straight from a
-- table, joined, computed (concatenation, CASE, aggregates over NUMERIC), of an enum and a domain,
-- and one whose column name (with a space) the API cannot carry.
CREATE TYPE media AS ENUM ('vinyl', 'cd', 'stream');
CREATE DOMAIN seconds AS integer CHECK (VALUE >= 0);

CREATE TABLE artist (
    artist_id integer PRIMARY KEY,
    name varchar(120) NOT NULL
);

CREATE TABLE album (
    album_id integer PRIMARY KEY,
    title varchar(160) NOT NULL,
    artist_id integer NOT NULL REFERENCES artist (artist_id),
    released date
);

CREATE TABLE track (
    track_id integer PRIMARY KEY,
    name varchar(200) NOT NULL,
    album_id integer REFERENCES album (album_id),
    medium media NOT NULL DEFAULT 'cd',
    length seconds,
    unit_price numeric(10,2) NOT NULL
);

CREATE VIEW album_summary AS
 SELECT al.album_id,
    al.title,
    ar.name AS artist,
    count(t.track_id) AS tracks,
    sum(t.unit_price) AS total_price,
    CASE WHEN sum(t.length) > 3600 THEN 'long'::text ELSE 'short'::text END AS size
   FROM ((album al
     JOIN artist ar ON ((ar.artist_id = al.artist_id)))
     LEFT JOIN track t ON ((t.album_id = al.album_id)))
  GROUP BY al.album_id, al.title, ar.name;

CREATE VIEW track_list AS
 SELECT t.track_id,
    t.name,
    t.medium,
    t.length,
    t.unit_price,
    (ar.name || ' - '::text) || al.title AS album_by,
    al.released,
    ARRAY[t.name, al.title] AS names
   FROM ((track t
     LEFT JOIN album al ON ((al.album_id = t.album_id)))
     LEFT JOIN artist ar ON ((ar.artist_id = al.artist_id)));

CREATE VIEW artist_card AS
 SELECT artist_id AS id, name AS "artist name" FROM artist;
