//! DEL: release what the attachment holds. Succeeds when it holds nothing,
//! repeatedly, and whatever the state of the ranges in the config.

use super::error::Error;
use crate::config::ReleaseConfig;
use crate::ids::{Attachment, NetworkName};
use crate::store::{LockedNetwork, StoreOptions};

/// Releases every address of `who` in `network`.
///
/// # Errors
/// [`Error`] on I/O failure or a lock timeout; never because nothing was held.
pub fn del(
    network: &NetworkName,
    who: &Attachment,
    cfg: &ReleaseConfig,
    opts: &StoreOptions,
) -> Result<(), Error> {
    super::retry_if_hints_vanished(|| del_once(network, who, cfg, opts))
}

fn del_once(
    network: &NetworkName,
    who: &Attachment,
    cfg: &ReleaseConfig,
    opts: &StoreOptions,
) -> Result<(), Error> {
    // No directory, no allocation: nothing to create just to say so.
    let Some(mut net) = LockedNetwork::open_existing(&cfg.data_dir, network, opts)? else {
        return Ok(());
    };
    net.recover()?;
    let released = net.release(who, cfg.range_sets)?;
    super::preferences::note_released(&mut net, &released, cfg.reuse_delay_secs)?;
    net.commit()?;
    Ok(())
}
