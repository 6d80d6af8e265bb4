-- basalt platform schema: Vault (vault.secrets, vault.decrypted_secrets, vault.create_secret,
-- vault.update_secret) with Supabase's columns and functions.
-- Idempotent: every statement may run again on a database that already has it.
--
-- Secrets are encrypted with AES-256-CBC and authenticated with HMAC-SHA-256 over the secret's
-- id, nonce and ciphertext (encrypt-then-MAC, keys derived from one 32-byte master key). The
-- master key never lives in the database: it is a file outside the data directory, owned by the
-- server's system user with mode 0600 (basalt start writes `.basalt/vault.key`), whose path is
-- recorded in vault._key_file. vault._key() reads it with pg_read_binary_file and is
-- executable by superusers only; a stolen dump or base backup holds no key. Only postgres and
-- service_role may use the schema; anon and authenticated may not.

CREATE SCHEMA IF NOT EXISTS vault;

CREATE TABLE IF NOT EXISTS vault._key_file (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  path text NOT NULL
);
REVOKE ALL ON vault._key_file FROM PUBLIC;

CREATE OR REPLACE FUNCTION vault._key() RETURNS bytea
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
  p text;
  k bytea;
BEGIN
  SELECT path INTO p FROM vault._key_file;
  IF p IS NULL THEN
    RAISE EXCEPTION 'vault: no key file is configured'
      USING ERRCODE = '55000', HINT = 'basalt start creates .basalt/vault.key and records its path';
  END IF;
  k := pg_read_binary_file(p);
  IF octet_length(k) <> 32 THEN
    RAISE EXCEPTION 'vault: key file % must hold exactly 32 bytes', p USING ERRCODE = '55000';
  END IF;
  RETURN k;
END
$$;
REVOKE ALL ON FUNCTION vault._key() FROM PUBLIC;

CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text,
  description text NOT NULL DEFAULT '',
  secret text NOT NULL,
  key_id uuid,
  nonce bytea,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;

-- Encryption and decryption with keys derived from the master key (never returned).
CREATE OR REPLACE FUNCTION vault._crypto_keys(OUT enc bytea, OUT mac bytea)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, extensions AS $$
DECLARE
  k bytea := vault._key();
BEGIN
  enc := extensions.hmac(convert_to('basalt vault encryption', 'UTF8'), k, 'sha256');
  mac := extensions.hmac(convert_to('basalt vault authentication', 'UTF8'), k, 'sha256');
END
$$;
REVOKE ALL ON FUNCTION vault._crypto_keys() FROM PUBLIC;

CREATE OR REPLACE FUNCTION vault._encrypt(secret_id uuid, plaintext text, nonce bytea) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, extensions AS $$
DECLARE
  keys record := vault._crypto_keys();
  ct bytea;
BEGIN
  ct := extensions.encrypt_iv(convert_to(plaintext, 'UTF8'), keys.enc, nonce, 'aes-cbc/pad:pkcs');
  RETURN encode(ct || extensions.hmac(convert_to(secret_id::text, 'UTF8') || nonce || ct, keys.mac, 'sha256'),
                'base64');
END
$$;
REVOKE ALL ON FUNCTION vault._encrypt(uuid, text, bytea) FROM PUBLIC;

CREATE OR REPLACE FUNCTION vault._decrypt(secret_id uuid, nonce bytea, secret text) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, extensions AS $$
DECLARE
  keys record;
  raw bytea;
  ct bytea;
BEGIN
  IF secret IS NULL OR nonce IS NULL THEN
    RETURN NULL;
  END IF;
  keys := vault._crypto_keys();
  raw := decode(secret, 'base64');
  IF octet_length(raw) < 48 THEN
    RAISE EXCEPTION 'vault: secret % is damaged', secret_id USING ERRCODE = '22000';
  END IF;
  ct := substring(raw FROM 1 FOR octet_length(raw) - 32);
  IF extensions.hmac(convert_to(secret_id::text, 'UTF8') || nonce || ct, keys.mac, 'sha256')
     <> substring(raw FROM octet_length(raw) - 31) THEN
    RAISE EXCEPTION 'vault: secret % failed authentication (wrong key or altered)', secret_id
      USING ERRCODE = '22000';
  END IF;
  RETURN convert_from(extensions.decrypt_iv(ct, keys.enc, nonce, 'aes-cbc/pad:pkcs'), 'UTF8');
END
$$;
REVOKE ALL ON FUNCTION vault._decrypt(uuid, bytea, text) FROM PUBLIC;

-- Every write of a secret stores it encrypted under a fresh nonce, whether through
-- create_secret/update_secret or a plain INSERT/UPDATE.
CREATE OR REPLACE FUNCTION vault._secrets_encrypt() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, extensions AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.secret IS DISTINCT FROM OLD.secret OR NEW.id IS DISTINCT FROM OLD.id THEN
    IF TG_OP = 'UPDATE' AND NEW.secret IS NOT DISTINCT FROM OLD.secret THEN
      NEW.secret := vault._decrypt(OLD.id, OLD.nonce, OLD.secret);
    END IF;
    NEW.nonce := extensions.gen_random_bytes(16);
    NEW.secret := vault._encrypt(NEW.id, NEW.secret, NEW.nonce);
  END IF;
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := CURRENT_TIMESTAMP;
  END IF;
  RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION vault._secrets_encrypt() FROM PUBLIC;
DROP TRIGGER IF EXISTS secrets_encrypt ON vault.secrets;
CREATE TRIGGER secrets_encrypt BEFORE INSERT OR UPDATE ON vault.secrets
  FOR EACH ROW EXECUTE FUNCTION vault._secrets_encrypt();

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
SELECT s.id, s.name, s.description, s.secret,
       vault._decrypt(s.id, s.nonce, s.secret) AS decrypted_secret,
       s.key_id, s.nonce, s.created_at, s.updated_at
FROM vault.secrets s;

CREATE OR REPLACE FUNCTION vault.create_secret(
  new_secret text,
  new_name text DEFAULT NULL,
  new_description text DEFAULT '',
  new_key_id uuid DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql SET search_path = '' AS $$
DECLARE
  rec record;
BEGIN
  INSERT INTO vault.secrets (secret, name, description, key_id)
  VALUES (new_secret, new_name, coalesce(new_description, ''), new_key_id)
  RETURNING * INTO rec;
  RETURN rec.id;
END
$$;

CREATE OR REPLACE FUNCTION vault.update_secret(
  secret_id uuid,
  new_secret text DEFAULT NULL,
  new_name text DEFAULT NULL,
  new_description text DEFAULT NULL,
  new_key_id uuid DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = '' AS $$
BEGIN
  UPDATE vault.secrets s
     SET secret = CASE WHEN new_secret IS NULL THEN s.secret ELSE new_secret END,
         name = coalesce(new_name, s.name),
         description = coalesce(new_description, s.description),
         key_id = coalesce(new_key_id, s.key_id)
   WHERE s.id = secret_id;
END
$$;

REVOKE ALL ON SCHEMA vault FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA vault FROM PUBLIC, anon, authenticated;
REVOKE ALL ON FUNCTION vault.create_secret(text, text, text, uuid) FROM PUBLIC;
REVOKE ALL ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) FROM PUBLIC;
GRANT USAGE ON SCHEMA vault TO postgres, service_role;
GRANT SELECT, INSERT, UPDATE, DELETE ON vault.secrets TO postgres, service_role;
GRANT SELECT ON vault.decrypted_secrets TO postgres, service_role;
GRANT EXECUTE ON FUNCTION vault._decrypt(uuid, bytea, text) TO postgres, service_role;
GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid) TO postgres, service_role;
GRANT EXECUTE ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) TO postgres, service_role;
