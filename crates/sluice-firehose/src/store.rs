//! Where buckets live: [`Buckets`] maps a destination's bucket name to an
//! `object_store` store. [`LocalBuckets`] (the default) keeps bucket `b` in
//! directory `<root>/b`; [`SingleStore`] sends every bucket to one store (an
//! in-memory store in tests, or an S3-compatible endpoint).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;

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
