-- FraiseQL-shaped demo schema: tb_* tables, v_* views exposing (id, data jsonb),
-- app.fn_* mutation functions taking one jsonb argument. Idempotent.
CREATE SCHEMA IF NOT EXISTS app;

CREATE TABLE IF NOT EXISTS public.tb_user (
    id          bigserial PRIMARY KEY,
    name        text        NOT NULL,
    email       text        NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS public.tb_item (
    id          bigint      PRIMARY KEY,
    owner_id    bigint      REFERENCES public.tb_user(id),
    title       text        NOT NULL,
    price_cents integer     NOT NULL DEFAULT 0
);

CREATE OR REPLACE VIEW public.v_user AS
SELECT u.id,
       jsonb_build_object('id', u.id, 'name', u.name, 'email', u.email,
                          'createdAt', u.created_at) AS data
FROM public.tb_user u;

CREATE OR REPLACE VIEW public.v_item AS
SELECT i.id,
       jsonb_build_object('id', i.id, 'title', i.title, 'priceCents', i.price_cents,
                          'ownerId', i.owner_id) AS data
FROM public.tb_item i;

CREATE OR REPLACE FUNCTION app.fn_create_user(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    new_id bigint;
BEGIN
    INSERT INTO public.tb_user (name, email)
    VALUES (input->>'name', input->>'email')
    RETURNING id INTO new_id;
    RETURN (SELECT v.data FROM public.v_user v WHERE v.id = new_id);
END;
$$;

-- Seed: users 1..10, items 1..100 (ids stable; /items/{id} for id > 100 is a 404).
INSERT INTO public.tb_user (id, name, email)
SELECT g, 'user ' || g, 'user' || g || '@example.com'
FROM generate_series(1, 10) g
ON CONFLICT (id) DO NOTHING;
SELECT setval('public.tb_user_id_seq', GREATEST((SELECT max(id) FROM public.tb_user), 10));

INSERT INTO public.tb_item (id, owner_id, title, price_cents)
SELECT g, 1 + (g % 10), 'item ' || g, g * 100
FROM generate_series(1, 100) g
ON CONFLICT (id) DO NOTHING;
