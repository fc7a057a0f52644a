-- An experiment's arm may be a campaign's remote AWS Personalize campaign, stored as its ARN (Engine:Remote:<campaign>),
-- which is no model version: the two foreign keys become one trigger that accepts a model version or an ARN.
alter table experiments drop constraint experiments_control_version_fkey;
alter table experiments drop constraint experiments_challenger_version_fkey;

create function experiments_check_arms() returns trigger language plpgsql as $$
begin
    if new.control_version not like 'arn:%' and not exists (select 1 from model_versions where version = new.control_version) then
        raise foreign_key_violation using message = format('experiments.control_version %s is neither a model version nor an ARN', new.control_version);
    end if;
    if new.challenger_version not like 'arn:%' and not exists (select 1 from model_versions where version = new.challenger_version) then
        raise foreign_key_violation using message = format('experiments.challenger_version %s is neither a model version nor an ARN', new.challenger_version);
    end if;
    return new;
end $$;

create trigger experiments_arms before insert or update of control_version, challenger_version on experiments
    for each row execute function experiments_check_arms();
