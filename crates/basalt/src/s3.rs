//! The S3 protocol endpoint under `basalt start` (`[storage.s3_protocol] enabled`, on by
//! default as in the Supabase CLI): its configuration and the lines `supabase start` prints.

/// What `basalt start` and `basalt status` print about the S3 endpoint.
#[derive(serde::Serialize, serde::Deserialize, Clone)]
pub struct S3Status {
    pub url: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
}

/// The region `supabase start` reports.
const REGION: &str = "local";

fn keys(platform: &basalt_pg::Platform) -> (String, String) {
    basalt_s3::credentials(
        &platform.jwt_secret,
        platform.jwt_secret == crate::project::CLI_LOCAL_SECRET,
        |k| std::env::var(k).ok().filter(|v| !v.is_empty()),
    )
}

/// The endpoint's configuration, when it is enabled.
#[cfg(feature = "storage")]
pub fn config(platform: &basalt_pg::Platform) -> Option<basalt_s3::Config> {
    if !platform.config.storage.s3_protocol.enabled {
        return None;
    }
    let (access_key_id, secret_access_key) = keys(platform);
    let (anon_key, _) = crate::project::api_keys(&platform.jwt_secret);
    Some(basalt_s3::Config {
        storage: basalt_storage::Config::from_platform(platform),
        access_key_id,
        secret_access_key,
        anon_key,
        region: REGION.into(),
    })
}

/// The printed lines' values, when the endpoint is enabled.
pub fn status(platform: &basalt_pg::Platform) -> Option<S3Status> {
    if !cfg!(feature = "storage") || !platform.config.storage.s3_protocol.enabled {
        return None;
    }
    let (access_key, secret_key) = keys(platform);
    Some(S3Status {
        url: format!("{}/storage/v1/s3", platform.api_url),
        access_key,
        secret_key,
        region: REGION.into(),
    })
}

impl S3Status {
    /// The lines, aligned like the others.
    pub fn lines(&self) -> String {
        format!(
            "  S3 Storage URL: {}\n   S3 Access Key: {}\n   S3 Secret Key: {}\n       S3 Region: {}\n",
            self.url, self.access_key, self.secret_key, self.region
        )
    }
}
