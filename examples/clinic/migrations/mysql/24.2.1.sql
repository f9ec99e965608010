-- clinic 24.2.1 (hotfix), MySQL / MariaDB: audit values were cut at 255 characters (long
-- notes could not be audited), and the volunteer search and enrolment timeline were slow.

ALTER TABLE volunteer_audit
    MODIFY old_value TEXT NULL,
    MODIFY new_value TEXT NULL;

CREATE INDEX volunteers_name_idx ON volunteers (last_name, first_name);
CREATE INDEX events_enrolment_time_idx ON events (enrolment_id, collected_at);
