-- Match rates for the Regions page, computed where the data is: batch inference fills these from the
-- cache it has just written (same transaction), for top-N of 5, 10 and 25, per model version.
create table region_user_counts (
    model_version text not null,
    region        text not null,
    users         integer not null,
    primary key (model_version, region)
);

create table region_match_counts (
    model_version text not null,
    top_n         smallint not null check (top_n in (5, 10, 25)),
    region        text not null,
    product_id    bigint not null references products (id) on delete cascade,
    matches       integer not null,
    primary key (model_version, top_n, region, product_id)
);
