-- Dashboard sign-in: accounts with a role, a password hash (ASP.NET Core Identity's PBKDF2 format), lockout
-- state, and a security stamp that changes whenever the password, role or status changes (signing out
-- every cookie and circuit issued before).
create table accounts (
    id                   bigint generated always as identity primary key,
    user_name            text not null,
    role                 text not null check (role in ('viewer', 'engineer', 'admin')),
    password_hash        text not null,
    must_change_password boolean not null default false,
    failed_sign_ins      integer not null default 0,
    locked_until         timestamptz,
    disabled             boolean not null default false,
    security_stamp       uuid not null default gen_random_uuid(),
    created_at           timestamptz not null default now(),
    created_by           text not null,
    last_sign_in         timestamptz
);
create unique index accounts_user_name_idx on accounts (lower(user_name));

-- REST API keys: only a SHA-256 of the secret is stored (keys are 256-bit random, so a fast hash is enough);
-- the prefix identifies a key in lists and logs without revealing it.
create table api_keys (
    id           bigint generated always as identity primary key,
    name         text not null,
    prefix       text not null unique,
    secret_hash  bytea not null,
    scope        text not null check (scope in ('read', 'write')),
    created_at   timestamptz not null default now(),
    created_by   text not null,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
