-- The bytes the relay had forwarded each way when the customer first answered: what
-- each side sent after it is its channel's messages (and a few resume frames), so a
-- recording that holds fewer of its own messages than the relay forwarded is known cut
-- (protocol/recording_verify.py).
ALTER TABLE sessions ADD COLUMN bytes_host_to_viewer_at_consent BIGINT;
ALTER TABLE sessions ADD COLUMN bytes_viewer_to_host_at_consent BIGINT;
