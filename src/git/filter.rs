//! Which files of a tree are manifests: an optional root directory, include and exclude globs (globset), and the
//! `*.yaml` / `*.yml` extension. Paths are `/`-separated and relative to the repository root. Pure.

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::error::GitError;

/// A path filter. The default accepts every YAML file.
#[derive(Debug, Clone, Default)]
pub struct PathFilter {
    root: Option<String>,
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
}

impl PathFilter {
    /// A filter below `root` (a directory, `""` or `.` for the whole tree) with include and exclude globs, which
    /// match the full repository-relative path (`apps/**/*.yaml`).
    ///
    /// # Errors
    /// [`GitError::InvalidGlob`] when a glob does not parse.
    pub fn new(root: Option<&str>, include: &[String], exclude: &[String]) -> Result<Self, GitError> {
        let root =
            root.map(|r| r.trim_start_matches("./").trim_matches('/').to_owned()).filter(|r| !r.is_empty() && r != ".");
        Ok(PathFilter { root, include: build(include)?, exclude: build(exclude)? })
    }

    /// The root directory, if any.
    pub fn root(&self) -> Option<&str> {
        self.root.as_deref()
    }

    /// Whether `path` is a manifest file this filter selects.
    pub fn matches(&self, path: &str) -> bool {
        if !(path.ends_with(".yaml") || path.ends_with(".yml")) {
            return false;
        }
        if path.split('/').any(|part| part.starts_with('.')) {
            // Hidden files and directories (.git, .github) are never manifests, as in `validate`'s discovery.
            return false;
        }
        if let Some(root) = &self.root
            && !(path.starts_with(root.as_str()) && path.as_bytes().get(root.len()) == Some(&b'/'))
        {
            return false;
        }
        if let Some(include) = &self.include
            && !include.is_match(path)
        {
            return false;
        }
        !self.exclude.as_ref().is_some_and(|exclude| exclude.is_match(path))
    }

    /// Whether a directory may contain selected files (prunes tree walks).
    pub fn may_contain(&self, dir: &str) -> bool {
        let dir = dir.trim_end_matches('/');
        if dir.is_empty() {
            return true;
        }
        if dir.split('/').any(|part| part.starts_with('.')) {
            return false;
        }
        match &self.root {
            None => true,
            Some(root) => {
                root.starts_with(dir) && (root.len() == dir.len() || root.as_bytes()[dir.len()] == b'/')
                    || dir.starts_with(root.as_str()) && dir.as_bytes().get(root.len()) == Some(&b'/')
            }
        }
    }
}

fn build(globs: &[String]) -> Result<Option<GlobSet>, GitError> {
    if globs.is_empty() {
        return Ok(None);
    }
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        let parsed =
            Glob::new(glob).map_err(|e| GitError::InvalidGlob { glob: glob.clone(), reason: e.to_string() })?;
        builder.add(parsed);
    }
    builder.build().map(Some).map_err(|e| GitError::InvalidGlob { glob: globs.join(","), reason: e.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_include_and_exclude() {
        let filter = PathFilter::new(Some("./apps/"), &["**/*.yaml".into()], &["**/test/**".into()]).unwrap();
        assert!(filter.matches("apps/orders.yaml"));
        assert!(filter.matches("apps/team/a.yaml"));
        assert!(!filter.matches("apps/team/a.yml"), "include is yaml only");
        assert!(!filter.matches("apps/test/a.yaml"));
        assert!(!filter.matches("appsx/a.yaml"));
        assert!(!filter.matches("platform/a.yaml"));
        assert!(!filter.matches("apps/.hidden/a.yaml"));
        assert!(filter.may_contain("apps"));
        assert!(filter.may_contain("apps/team"));
        assert!(!filter.may_contain("platform"));
        let all = PathFilter::default();
        assert!(all.matches("a.yml") && !all.matches("README.md") && !all.matches(".github/x.yaml"));
        assert!(PathFilter::new(None, &["[".into()], &[]).is_err());
    }
}
