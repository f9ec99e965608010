-- clinic 24.2.1 (hotfix), SQLite: indexes for the slow volunteer search and enrolment
-- timeline. (PostgreSQL and MySQL also widen volunteer_audit.old_value/new_value to TEXT;
-- SQLite does not enforce VARCHAR lengths, so nothing to change here.)

CREATE INDEX volunteers_name_idx ON volunteers (last_name, first_name);
CREATE INDEX events_enrolment_time_idx ON events (enrolment_id, collected_at);
