-- clinic 24.2.1 (hotfix), PostgreSQL: audit values were cut at 255 characters (long notes
-- could not be audited), and the volunteer search and enrolment timeline were slow.

ALTER TABLE volunteer_audit
    ALTER COLUMN old_value TYPE TEXT,
    ALTER COLUMN new_value TYPE TEXT;

CREATE INDEX volunteers_name_idx ON volunteers (last_name, first_name);
CREATE INDEX events_enrolment_time_idx ON events (enrolment_id, collected_at);
