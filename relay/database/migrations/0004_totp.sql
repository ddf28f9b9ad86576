-- The second factor of a technician's browser sign-in (RFC 6238 TOTP, relay/totp.py): the
-- shared secret in base32 (the relay computes codes with it, so it is kept, not hashed;
-- NULL: this technician cannot sign in in the browser) and the last time step a code was
-- accepted for, so that one code signs in once, on any relay.
ALTER TABLE technicians ADD COLUMN totp_secret TEXT;
ALTER TABLE technicians ADD COLUMN totp_last_step BIGINT
