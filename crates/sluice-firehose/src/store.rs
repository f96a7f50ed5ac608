//! Where buckets live: [`Buckets`] maps a destination's bucket name to an
//! `object_store` store. [`LocalBuckets`] (the default) keeps bucket `b` in
//! directory `<root>/b`; [`S3Buckets`] writes to S3 or any S3-compatible
//! endpoint (path-style, e.g. a moto server on loopback); [`SingleStore`]
//! sends every bucket to one store (an in-memory store in tests).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::{ObjectStore, RetryConfig};

use crate::error::{FirehoseError, Result};

/// Resolves a bucket name to the store its objects go to.
pub trait Buckets: Send + Sync + std::fmt::Debug {
    /// The store for `bucket`.
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>>;
}

/// Buckets as directories under a root: bucket `b` is `<root>/b`.
#[derive(Debug)]
pub struct LocalBuckets {
    root: PathBuf,
    cache: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl LocalBuckets {
    /// Buckets under `root` (created when first written).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The directory holding `bucket`.
    pub fn bucket_dir(&self, bucket: &str) -> PathBuf {
        self.root.join(bucket)
    }
}

impl Buckets for LocalBuckets {
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache.get(bucket) {
            return Ok(Arc::clone(s));
        }
        let dir = self.bucket_dir(bucket);
        std::fs::create_dir_all(&dir).map_err(|e| FirehoseError::buffer(&dir, e))?;
        let fs = LocalFileSystem::new_with_prefix(&dir).map_err(|source| FirehoseError::Store {
            bucket: bucket.to_owned(),
            key: String::new(),
            source,
        })?;
        let store: Arc<dyn ObjectStore> = Arc::new(fs);
        cache.insert(bucket.to_owned(), Arc::clone(&store));
        Ok(store)
    }
}

/// Every bucket goes to one store.
#[derive(Debug, Clone)]
pub struct SingleStore(pub Arc<dyn ObjectStore>);

impl Buckets for SingleStore {
    fn store(&self, _bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        Ok(Arc::clone(&self.0))
    }
}

/// Buckets in S3 or an S3-compatible store.
#[derive(Debug)]
pub struct S3Buckets {
    endpoint: Option<String>,
    region: String,
    credentials: Option<(String, String)>,
    cache: Mutex<HashMap<String, Arc<dyn ObjectStore>>>,
}

impl S3Buckets {
    /// S3 at `endpoint` (None: AWS itself) in `region`; credentials from the
    /// `AWS_*` environment variables unless given with
    /// [`S3Buckets::with_credentials`].
    pub fn new(endpoint: Option<String>, region: impl Into<String>) -> Self {
        Self {
            endpoint,
            region: region.into(),
            credentials: None,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Uses this access key pair.
    pub fn with_credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.credentials = Some((access_key_id.to_owned(), secret_access_key.to_owned()));
        self
    }
}

impl Buckets for S3Buckets {
    fn store(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = cache.get(bucket) {
            return Ok(Arc::clone(s));
        }
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_region(&self.region)
            // Fail a write within seconds and let the stream's driver retry,
            // so an unreachable store never blocks a flush for minutes.
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: std::time::Duration::from_secs(10),
                ..RetryConfig::default()
            });
        if let Some(ep) = &self.endpoint {
            b = b
                .with_endpoint(ep)
                .with_allow_http(ep.starts_with("http://"))
                .with_virtual_hosted_style_request(false);
        }
        if let Some((k, s)) = &self.credentials {
            b = b.with_access_key_id(k).with_secret_access_key(s);
        }
        let s3 = b.build().map_err(|source| FirehoseError::Store {
            bucket: bucket.to_owned(),
            key: String::new(),
            source,
        })?;
        let store: Arc<dyn ObjectStore> = Arc::new(s3);
        cache.insert(bucket.to_owned(), Arc::clone(&store));
        Ok(store)
    }
}
