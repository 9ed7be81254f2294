//! `key generate FILE`, `key id`.

use anyhow::{bail, Result};
use backup_core::Key;

use super::Ctx;
use crate::cli::KeyAction;
use crate::exit_codes;
use crate::output::say;

pub fn run(ctx: &Ctx, action: &KeyAction) -> Result<u8> {
    match action {
        KeyAction::Generate { file } => {
            let text = Key::generate_text()?;
            let parent = backup_core::fsio::parent_of(file);
            let name = backup_core::fsio::last_name(file)?;
            let dir = backup_core::Dir::open(parent)?;
            dir.write_new_from(name, &mut text.as_bytes(), file)?;
            dir.sync()?;
            let key = Key::from_text(&text, file)?;
            say(format!(
                "wrote a new key to {} (key id {}): keep a copy away from this host; without \
                 it the backups made with it cannot be read by anyone",
                file.display(),
                key.id()
            ));
            Ok(exit_codes::OK)
        }
        KeyAction::Id => match super::remote::key(&ctx.global)? {
            Some(k) => {
                say(k.id());
                Ok(exit_codes::OK)
            }
            None => {
                bail!("no key given: pass --key-file FILE or set ATOCORE_KEY_FILE or ATOCORE_KEY")
            }
        },
    }
}
