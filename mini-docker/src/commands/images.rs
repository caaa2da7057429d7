//! `mini-docker images`, `import FILE NAME` and `rmi NAME`: the image store.
//!
//! An image is a directory holding a root filesystem; the store is
//! `<data-root>/images/<name>/rootfs`. The built-in `host` image is not
//! stored: it is assembled for each container from the host's own files.

use std::path::Path;

use crate::commands::{Dirs, Error};
use crate::image::{self, ImageError};

/// Lists the built-in image and every stored one.
pub fn images(dirs: &Dirs) -> Result<(), Error> {
    say!("{:<20} SOURCE", "NAME");
    say!("{:<20} built-in: the host's /usr, /bin, /lib* read-only, a generated /etc", "host");
    for (name, rootfs) in image::stored(&dirs.data)? {
        say!("{:<20} {}", name, rootfs.display());
    }
    Ok(())
}

/// Imports a tarball or an OCI layout (see `image/import.rs`).
pub fn import(dirs: &Dirs, file: &Path, name: &str) -> Result<(), Error> {
    image::import::import(&dirs.data, file, name)?;
    say!("{name}");
    Ok(())
}

/// Removes a stored image.
pub fn rmi(dirs: &Dirs, name: &str) -> Result<(), Error> {
    if name == image::HOST {
        return Err(ImageError::BuiltIn(name.to_owned()).into());
    }
    let dir = image::store_dir(&dirs.data).join(name);
    if !image::valid_name(name) || !dir.is_dir() {
        return Err(ImageError::Unknown(name.to_owned()).into());
    }
    std::fs::remove_dir_all(&dir).map_err(|source| ImageError::Io {
        what: "removing image",
        path: dir,
        source,
    })?;
    say!("{name}");
    Ok(())
}
