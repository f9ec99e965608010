-- Hand-written SQL masking of the columns examples/clinic/policy.toml masks: the
-- "dump, restore, then UPDATE" pipeline valet clone is compared with.
BEGIN;
UPDATE staff SET full_name = 'Staff ' || id;
UPDATE volunteers SET
  first_name    = 'F' || substr(md5(id::text || 'k1'), 1, 8),
  last_name     = 'L' || substr(md5(id::text || 'k2'), 1, 10),
  initials      = 'F' || 'L',
  date_of_birth = date_of_birth + ((('x' || substr(md5(id::text || 'k3'), 1, 4))::bit(16)::int % 361) - 180),
  sex           = CASE WHEN substr(md5(id::text || 'k4'), 1, 1) < '8' THEN 'F' ELSE 'M' END,
  email         = 'v' || substr(md5(id::text || email), 1, 16) || '@example.invalid',
  phone         = CASE WHEN phone IS NULL THEN NULL ELSE '+00 ' || substr(md5(id::text || 'k5'), 1, 9) END,
  address_line  = (id % 200) || ' ' || substr(md5(id::text || 'k6'), 1, 8) || ' Street',
  postcode      = substr(md5(id::text || 'k7'), 1, 6),
  city          = 'C' || substr(md5(id::text || 'k8'), 1, 6),
  notes         = CASE WHEN notes IS NULL THEN NULL ELSE repeat('x', length(notes)) END;
UPDATE volunteer_audit SET
  old_value = CASE WHEN old_value IS NULL THEN NULL ELSE substr(md5(old_value), 1, 12) END,
  new_value = CASE WHEN new_value IS NULL THEN NULL ELSE substr(md5(new_value), 1, 12) END;
COMMIT;
