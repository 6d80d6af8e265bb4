//! Vault: secrets stored encrypted and authenticated, decrypted only with the key file, and
//! readable by privileged roles only.

use std::os::unix::fs::PermissionsExt;

fn key_owner() -> Option<(u32, u32)> {
    basalt_pg::cluster::RunAs::resolve(None)
        .unwrap()
        .map(|r| (r.uid, r.gid))
}

async fn with_key(c: &tokio_postgres::Client) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = dir.path().join("vault.key");
    basalt_net::vault::ensure_key_file(&key, key_owner()).unwrap();
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::read(&key).unwrap().len(),
        basalt_net::vault::KEY_LEN
    );
    basalt_net::vault::register(c, &key).await.unwrap();
    dir
}

#[tokio::test]
async fn secrets_are_encrypted_and_readable_by_privileged_roles_only() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let _key = with_key(&c).await;
    let id: uuid_like::Id = c
        .query_one(
            "SELECT vault.create_secret('sk_live_123', 'service_key', 'the key')::text",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let stored: String = c
        .query_one(
            "SELECT secret FROM vault.secrets WHERE id = $1::text::uuid",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains("sk_live_123"), "stored encrypted");
    let plain: String = c
        .query_one(
            "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'service_key'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, "sk_live_123");

    c.execute(
        "SELECT vault.update_secret($1::text::uuid, 'sk_live_456')",
        &[&id],
    )
    .await
    .unwrap();
    let plain: String = c
        .query_one("SELECT decrypted_secret FROM vault.decrypted_secrets", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(plain, "sk_live_456");

    c.batch_execute("SET ROLE service_role").await.unwrap();
    let n: i64 = c
        .query_one(
            "SELECT count(decrypted_secret) FROM vault.decrypted_secrets",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 1, "service_role reads secrets");
    assert!(
        c.query("SELECT vault._key()", &[]).await.is_err(),
        "the key itself is superuser-only"
    );
    for role in ["anon", "authenticated"] {
        c.batch_execute(&format!("RESET ROLE; SET ROLE {role}"))
            .await
            .unwrap();
        assert!(c
            .query("SELECT * FROM vault.decrypted_secrets", &[])
            .await
            .is_err());
        assert!(c.query("SELECT * FROM vault.secrets", &[]).await.is_err());
        assert!(c
            .query("SELECT vault.create_secret('x')", &[])
            .await
            .is_err());
    }
    c.batch_execute("RESET ROLE").await.unwrap();
}

#[tokio::test]
async fn altered_ciphertext_or_another_key_fails_authentication() {
    let db = basalt_testkit::fresh_db().await;
    let c = db.client().await;
    let _key = with_key(&c).await;
    c.batch_execute(
        "SELECT vault.create_secret('a', 'one'); SELECT vault.create_secret('b', 'two');",
    )
    .await
    .unwrap();
    // Swap the ciphertexts of two secrets (bypassing the trigger): each is bound to its id.
    c.batch_execute(
        "ALTER TABLE vault.secrets DISABLE TRIGGER secrets_encrypt;
         UPDATE vault.secrets s SET secret = o.secret, nonce = o.nonce
           FROM vault.secrets o WHERE s.name = 'one' AND o.name = 'two';
         ALTER TABLE vault.secrets ENABLE TRIGGER secrets_encrypt;",
    )
    .await
    .unwrap();
    let err = c
        .query(
            "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'one'",
            &[],
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("failed authentication")
            || format!("{err:?}").contains("failed authentication")
    );
    // A different key file: nothing decrypts.
    let _other = with_key(&c).await;
    assert!(c
        .query(
            "SELECT decrypted_secret FROM vault.decrypted_secrets WHERE name = 'two'",
            &[]
        )
        .await
        .is_err());
}

/// The uuid travels as text; no uuid crate needed in this test.
mod uuid_like {
    pub type Id = String;
}
