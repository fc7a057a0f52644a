-- The Regions page's default sample (50 users per region, seed 1), picked once per batch instead of on every
-- request: ranking a million cached users by hash takes seconds.
create table region_sample_users (
    model_version text not null,
    region        text not null,
    user_id       bigint not null references customers (id) on delete cascade,
    primary key (model_version, region, user_id)
);
