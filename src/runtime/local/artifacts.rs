//! Job jars for the local runtime: `file://` URIs are paths on this machine; `local://` URIs are paths inside the
//! Flink image, looked up under the emulated image root (`--image-root`) and then on this machine; `https://` (and
//! `http://`) ones are downloaded once into a cache keyed by the URI.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Why a jar could not be provided.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The URI names a file that does not exist, or a scheme that is not supported.
    #[error("{0}")]
    BadInput(String),
    /// A download failed; retrying may help.
    #[error("{0}")]
    Transient(String),
}

/// Resolves a jar URI to a file on this machine, downloading it into `cache_dir` when needed.
pub async fn resolve_jar(uri: &str, cache_dir: &Path, image_root: Option<&Path>) -> Result<PathBuf, ArtifactError> {
    let (scheme, rest) =
        uri.split_once("://").ok_or_else(|| ArtifactError::BadInput(format!("{uri:?} is not a URI")))?;
    match scheme {
        "local" | "file" => {
            let in_image = image_root.filter(|_| scheme == "local").map(|root| root.join(rest.trim_start_matches('/')));
            if let Some(path) = in_image.filter(|p| p.is_file()) {
                return Ok(path);
            }
            let path = PathBuf::from(rest);
            if path.is_file() {
                Ok(path)
            } else {
                Err(ArtifactError::BadInput(format!(
                    "jar {uri} does not exist on this machine ({} is not a file)",
                    path.display()
                )))
            }
        }
        "https" | "http" => download(uri, cache_dir).await,
        other => Err(ArtifactError::BadInput(format!(
            "jar scheme {other} is not supported locally (use local://, file:// or https://)"
        ))),
    }
}

async fn download(uri: &str, cache_dir: &Path) -> Result<PathBuf, ArtifactError> {
    let digest = hex::encode(Sha256::digest(uri.as_bytes()));
    let target = cache_dir.join(format!("{}.jar", &digest[..16]));
    if target.is_file() {
        return Ok(target);
    }
    crate::flink::client::ensure_crypto_provider();
    let shown = redact(uri);
    let response = reqwest::get(uri)
        .await
        .map_err(|e| ArtifactError::Transient(format!("downloading {shown}: {}", e.without_url())))?;
    if !response.status().is_success() {
        let status = response.status();
        let message = format!("downloading {shown}: HTTP {status}");
        return Err(if status.is_client_error() {
            ArtifactError::BadInput(message)
        } else {
            ArtifactError::Transient(message)
        });
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ArtifactError::Transient(format!("downloading {shown}: {}", e.without_url())))?;
    std::fs::create_dir_all(cache_dir)
        .map_err(|e| ArtifactError::Transient(format!("{}: {e}", cache_dir.display())))?;
    // Write then rename, so a crash never leaves a half-written jar under the final name.
    let partial = target.with_extension("partial");
    std::fs::write(&partial, &bytes)
        .and_then(|()| std::fs::rename(&partial, &target))
        .map_err(|e| ArtifactError::Transient(format!("{}: {e}", target.display())))?;
    Ok(target)
}

/// A URI without credentials, for messages.
fn redact(uri: &str) -> String {
    match uri.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host))
                if !rest.split('/').next().unwrap_or_default().is_empty() && rest.find('@') < rest.find('/') =>
            {
                format!("{scheme}://***@{host}")
            }
            _ => uri.to_owned(),
        },
        None => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn local_and_file_uris_are_paths() {
        let dir = tempfile::tempdir().unwrap();
        let jar = dir.path().join("job.jar");
        std::fs::write(&jar, b"PK").unwrap();
        for uri in [format!("local://{}", jar.display()), format!("file://{}", jar.display())] {
            assert_eq!(resolve_jar(&uri, dir.path(), None).await.unwrap(), jar);
        }
        let missing = resolve_jar("local:///no/such.jar", dir.path(), None).await.unwrap_err();
        assert!(matches!(missing, ArtifactError::BadInput(_)), "{missing}");
        assert!(matches!(resolve_jar("s3://bucket/job.jar", dir.path(), None).await, Err(ArtifactError::BadInput(_))));
        // local:// is a path inside the image: found under the emulated image root first.
        let image = dir.path().join("image");
        std::fs::create_dir_all(image.join("opt/flink/usrlib")).unwrap();
        std::fs::write(image.join("opt/flink/usrlib/app.jar"), b"PK").unwrap();
        let found = resolve_jar("local:///opt/flink/usrlib/app.jar", dir.path(), Some(&image)).await.unwrap();
        assert_eq!(found, image.join("opt/flink/usrlib/app.jar"));
        assert!(
            resolve_jar("file:///opt/flink/usrlib/app.jar", dir.path(), Some(&image)).await.is_err(),
            "file:// is never in the image"
        );
    }

    #[tokio::test]
    async fn http_jars_are_downloaded_once_and_credentials_are_not_shown() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let served = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = served.clone();
        let app = axum::Router::new().route(
            "/job.jar",
            axum::routing::get(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                async { b"PK-jar".to_vec() }
            }),
        );
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let dir = tempfile::tempdir().unwrap();
        let uri = format!("http://127.0.0.1:{port}/job.jar");
        let first = resolve_jar(&uri, dir.path(), None).await.unwrap();
        let second = resolve_jar(&uri, dir.path(), None).await.unwrap();
        assert_eq!(first, second);
        assert_eq!(std::fs::read(&first).unwrap(), b"PK-jar");
        assert_eq!(served.load(std::sync::atomic::Ordering::SeqCst), 1);
        let error = resolve_jar(&format!("http://user:secret@127.0.0.1:{port}/missing.jar"), dir.path(), None)
            .await
            .unwrap_err();
        assert!(!error.to_string().contains("secret"), "{error}");
        assert!(matches!(error, ArtifactError::BadInput(_)), "{error}");
        server.abort();
    }
}
