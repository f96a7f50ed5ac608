//! Where a reference object lives: [`ObjectLocation::parse`] reads the
//! location an app names (a local path relative to the app's directory,
//! `file://`, `s3://bucket/key` or `http(s)://`) and
//! [`ObjectLocation::open`] builds the `object_store` client that reads it.
//!
//! S3 is configured by [`S3Options`] (endpoint, region, credentials,
//! plain-HTTP), falling back to the usual `AWS_*` environment variables for
//! whatever is not set, so any S3-compatible store works (path-style
//! requests whenever an endpoint is given).

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::http::HttpBuilder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, RetryConfig};
use url::{Position, Url};

use crate::error::{ReferenceError, Result};

/// Where a reference object is, as parsed from the location an app gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectLocation {
    written: String,
    kind: LocationKind,
}

/// The store a reference object is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationKind {
    /// A local file (absolute, lexically normalised path).
    File {
        /// The file.
        path: PathBuf,
    },
    /// An object in S3 or an S3-compatible store.
    S3 {
        /// Bucket name (the URL's host).
        bucket: String,
        /// Object key, percent-decoded.
        key: String,
    },
    /// A resource on an HTTP(S) server.
    Http {
        /// The full URL.
        url: Url,
    },
}

/// How to reach S3. Every field left `None` falls back to the `AWS_*`
/// environment variables object_store reads (`AWS_ENDPOINT_URL` /
/// `AWS_ENDPOINT`, `AWS_REGION` / `AWS_DEFAULT_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_ALLOW_HTTP`), then to
/// object_store's defaults (AWS itself, `us-east-1`, instance credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct S3Options {
    /// Endpoint of an S3-compatible store, e.g. `http://127.0.0.1:5000`.
    /// When set, requests are path-style (`<endpoint>/<bucket>/<key>`).
    pub endpoint: Option<String>,
    /// Region used to sign requests.
    pub region: Option<String>,
    /// Access key ID (with `secret_access_key`).
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
    /// Session token for temporary credentials.
    pub session_token: Option<String>,
    /// Allow `http://` endpoints; `None` allows them exactly when `endpoint`
    /// starts with `http://`.
    pub allow_http: Option<bool>,
    /// Send unsigned requests (public buckets); no credentials are looked up.
    pub anonymous: bool,
}

/// Fail a request within seconds rather than retrying for minutes: a failed
/// reload keeps the old table and is tried again at the next check.
fn retry_config() -> RetryConfig {
    RetryConfig {
        max_retries: 2,
        retry_timeout: Duration::from_secs(10),
        ..RetryConfig::default()
    }
}

impl ObjectLocation {
    /// Parses `location`: a URL when it contains `://` (`file`, `s3`, `s3a`,
    /// `http`, `https`), otherwise a local path, taken relative to
    /// `base_dir` (the app's directory) unless absolute.
    pub fn parse(location: &str, base_dir: &Path) -> Result<Self> {
        let invalid = |reason: &str| ReferenceError::invalid(location, reason);
        if location.trim().is_empty() {
            return Err(invalid("is empty"));
        }
        if location.trim() != location {
            return Err(invalid("has leading or trailing white space"));
        }
        let kind = if location.contains("://") {
            let url =
                Url::parse(location).map_err(|e| invalid(&format!("is not a valid URL: {e}")))?;
            if url.fragment().is_some() {
                return Err(invalid("has a #fragment; name the object only"));
            }
            match url.scheme() {
                "file" => {
                    if url.query().is_some() {
                        return Err(invalid("has a ?query; a file URL names a file only"));
                    }
                    match url.host_str() {
                        None | Some("") | Some("localhost") => {}
                        Some(host) => {
                            return Err(invalid(&format!(
                                "names host \"{host}\"; file:// URLs read local files only"
                            )));
                        }
                    }
                    if url.path().ends_with('/') {
                        return Err(invalid("names a directory, not a file"));
                    }
                    let path = url
                        .to_file_path()
                        .map_err(|()| invalid("is not a local file path"))?;
                    LocationKind::File {
                        path: normalize(&path),
                    }
                }
                "s3" | "s3a" => {
                    if url.query().is_some() {
                        return Err(invalid("has a ?query; an s3:// URL is s3://bucket/key"));
                    }
                    let bucket = match url.host_str() {
                        Some(b) if !b.is_empty() => b.to_owned(),
                        _ => return Err(invalid("has no bucket (expected s3://bucket/key)")),
                    };
                    let key = object_key(location, url.path())?;
                    LocationKind::S3 { bucket, key }
                }
                "http" | "https" => {
                    if url.host_str().is_none_or(str::is_empty) {
                        return Err(invalid("has no host"));
                    }
                    if url.query().is_some() {
                        return Err(invalid(
                            "has a ?query; object_store's HTTP client requests the path only",
                        ));
                    }
                    object_key(location, url.path())?;
                    LocationKind::Http { url }
                }
                scheme => {
                    return Err(ReferenceError::UnsupportedScheme {
                        location: location.to_owned(),
                        scheme: scheme.to_owned(),
                    });
                }
            }
        } else {
            if location.ends_with('/') || location.ends_with(std::path::MAIN_SEPARATOR) {
                return Err(invalid("names a directory, not a file"));
            }
            let path = Path::new(location);
            let path = if path.is_absolute() {
                path.to_path_buf()
            } else {
                std::path::absolute(base_dir.join(path))
                    .map_err(|e| invalid(&format!("cannot be made absolute: {e}")))?
            };
            LocationKind::File {
                path: normalize(&path),
            }
        };
        Ok(Self {
            written: location.to_owned(),
            kind,
        })
    }

    /// The location as the app wrote it.
    pub fn as_written(&self) -> &str {
        &self.written
    }

    /// Which store, and where in it.
    pub fn kind(&self) -> &LocationKind {
        &self.kind
    }

    /// The object_store client for this location and the object's path in
    /// it. `s3` is used for `s3://` locations only.
    pub fn open(&self, s3: &S3Options) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        let store_error =
            |store: &'static str, source: object_store::Error| ReferenceError::Store {
                location: self.to_string(),
                store,
                source: Arc::new(source),
            };
        match &self.kind {
            LocationKind::File { path } => {
                let object = ObjectPath::from_absolute_path(path).map_err(|e| {
                    ReferenceError::invalid(
                        &self.written,
                        format!("is not a usable file path: {e}"),
                    )
                })?;
                Ok((Arc::new(LocalFileSystem::new()), object))
            }
            LocationKind::S3 { bucket, key } => {
                let mut b = if s3.anonymous {
                    AmazonS3Builder::new()
                } else {
                    AmazonS3Builder::from_env()
                };
                b = b.with_bucket_name(bucket).with_retry(retry_config());
                if let Some(region) = &s3.region {
                    b = b.with_region(region);
                }
                if let Some(endpoint) = &s3.endpoint {
                    b = b
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false)
                        .with_allow_http(s3.allow_http.unwrap_or(endpoint.starts_with("http://")));
                } else if let Some(allow) = s3.allow_http {
                    b = b.with_allow_http(allow);
                }
                if let Some(id) = &s3.access_key_id {
                    b = b.with_access_key_id(id);
                }
                if let Some(secret) = &s3.secret_access_key {
                    b = b.with_secret_access_key(secret);
                }
                if let Some(token) = &s3.session_token {
                    b = b.with_token(token);
                }
                if s3.anonymous {
                    b = b.with_skip_signature(true);
                }
                let store = b.build().map_err(|e| store_error("S3", e))?;
                let object = ObjectPath::parse(key).map_err(|e| {
                    ReferenceError::invalid(&self.written, format!("has an unusable key: {e}"))
                })?;
                Ok((Arc::new(store), object))
            }
            LocationKind::Http { url } => {
                let store = HttpBuilder::new()
                    .with_url(&url[..Position::BeforePath])
                    .with_client_options(
                        ClientOptions::new().with_allow_http(url.scheme() == "http"),
                    )
                    .with_retry(retry_config())
                    .build()
                    .map_err(|e| store_error("HTTP", e))?;
                let object = ObjectPath::from_url_path(url.path()).map_err(|e| {
                    ReferenceError::invalid(&self.written, format!("has an unusable path: {e}"))
                })?;
                Ok((Arc::new(store), object))
            }
        }
    }
}

impl fmt::Display for ObjectLocation {
    /// The location as written; a local path also shows the file it resolved to.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LocationKind::File { path } if Path::new(&self.written) != path.as_path() => {
                write!(f, "{} ({})", self.written, path.display())
            }
            _ => f.write_str(&self.written),
        }
    }
}

/// The object key of a URL path: percent-decoded, without the leading `/`;
/// it must name an object, not a bucket or prefix.
fn object_key(location: &str, url_path: &str) -> Result<String> {
    let invalid = |reason: String| ReferenceError::invalid(location, reason);
    let raw = url_path.strip_prefix('/').unwrap_or(url_path);
    if raw.is_empty() {
        return Err(invalid("names no object (the path is empty)".into()));
    }
    if raw.ends_with('/') {
        return Err(invalid(
            "names a prefix (ends with /), not an object".into(),
        ));
    }
    let path = ObjectPath::from_url_path(url_path)
        .map_err(|e| invalid(format!("has an unusable object path: {e}")))?;
    Ok(path.to_string())
}

/// Removes `.` and resolves `..` lexically, so the path can become an
/// object_store path (which has no such parts).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<ObjectLocation> {
        ObjectLocation::parse(s, Path::new("/apps/demo"))
    }

    fn err(s: &str) -> String {
        parse(s).unwrap_err().to_string()
    }

    #[test]
    fn local_paths_resolve_against_the_base_dir() {
        let l = parse("reference-data/companies.csv").unwrap();
        assert_eq!(
            l.kind(),
            &LocationKind::File {
                path: "/apps/demo/reference-data/companies.csv".into()
            }
        );
        assert_eq!(
            l.to_string(),
            "reference-data/companies.csv (/apps/demo/reference-data/companies.csv)"
        );
        let l = parse("../shared/./x.json").unwrap();
        assert_eq!(
            l.kind(),
            &LocationKind::File {
                path: "/apps/shared/x.json".into()
            }
        );
        let l = parse("/data/x.csv").unwrap();
        assert_eq!(
            l.kind(),
            &LocationKind::File {
                path: "/data/x.csv".into()
            }
        );
        assert_eq!(l.to_string(), "/data/x.csv");
    }

    #[test]
    fn file_urls() {
        let l = parse("file:///data/my%20table.csv").unwrap();
        assert_eq!(
            l.kind(),
            &LocationKind::File {
                path: "/data/my table.csv".into()
            }
        );
        assert!(parse("file://localhost/data/x.csv").is_ok());
        assert!(err("file://server/data/x.csv").contains("names host \"server\""));
        assert!(err("file:///data/").contains("names a directory"));
    }

    #[test]
    fn s3_urls() {
        let l = parse("s3://my-bucket/ref/companies%20v2.csv").unwrap();
        assert_eq!(
            l.kind(),
            &LocationKind::S3 {
                bucket: "my-bucket".into(),
                key: "ref/companies v2.csv".into()
            }
        );
        assert!(parse("s3a://b/k.json").is_ok());
        assert!(err("s3://my-bucket").contains("names no object"));
        assert!(err("s3://my-bucket/").contains("names no object"));
        assert!(err("s3://my-bucket/ref/").contains("names a prefix"));
        assert!(err("s3:///key.csv").contains("no bucket"));
        assert!(err("s3://b/k.csv?versionId=3").contains("?query"));
    }

    #[test]
    fn http_urls() {
        let l = parse("http://127.0.0.1:8080/tables/t.csv").unwrap();
        match l.kind() {
            LocationKind::Http { url } => assert_eq!(url.port(), Some(8080)),
            other => panic!("{other:?}"),
        }
        assert!(parse("https://example.com/a/b.json").is_ok());
        assert!(err("https://example.com/").contains("names no object"));
        assert!(err("https://example.com/t.csv?sig=1").contains("?query"));
        assert!(err("https://example.com/t.csv#top").contains("#fragment"));
    }

    #[test]
    fn bad_locations_name_the_location_and_the_part() {
        assert_eq!(
            err("gs://bucket/key.csv"),
            "reference location \"gs://bucket/key.csv\": unsupported scheme \"gs\" (use a local path, file://, s3:// or http(s)://)"
        );
        assert_eq!(err(""), "reference location \"\": is empty");
        assert!(err(" x.csv").contains("white space"));
        assert!(err("data/").contains("names a directory"));
        assert!(err("http://[::1/x.csv").contains("is not a valid URL"));
    }

    #[test]
    fn open_builds_each_store() {
        let s3 = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            region: Some("us-west-2".into()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            ..S3Options::default()
        };
        for loc in [
            "x.csv",
            "file:///tmp/x.csv",
            "s3://b/dir/x.csv",
            "http://127.0.0.1:9/dir/x.csv",
        ] {
            let (_, path) = parse(loc).unwrap().open(&s3).unwrap();
            assert!(path.as_ref().ends_with("x.csv"), "{loc}: {path}");
        }
        let (_, path) = parse("s3://b/dir/x.csv").unwrap().open(&s3).unwrap();
        assert_eq!(path.as_ref(), "dir/x.csv");
    }

    #[tokio::test]
    async fn an_endpoint_with_allow_http_false_refuses_plain_http() {
        use object_store::ObjectStoreExt;
        let s3 = S3Options {
            endpoint: Some("http://127.0.0.1:9".into()),
            allow_http: Some(false),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            ..S3Options::default()
        };
        let (store, path) = parse("s3://b/x.csv").unwrap().open(&s3).unwrap();
        let e = store.head(&path).await.unwrap_err().to_string();
        // reqwest refuses the URL before connecting (port 9 would refuse the
        // connection otherwise).
        assert!(e.contains("builder error"), "{e}");
    }
}
