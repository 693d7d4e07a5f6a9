"""Fleet updates: signed bundles installed into A/B slots, health-gated, rolled back by themselves.

Modules, in the order an update meets them: `manifest` (what a bundle is), `keys` (Ed25519 release keys and
the box's keyring with revocation), `bundle` (reading and verifying the tar), `hardware` and `versions`
(what a bundle may replace), `install` (admission, writing a slot), `preflight` (engine build, store
migration tried on a copy), `slots` (the A/B folders and the state file), `runner` and `launch` (running a
slot's firmware), `health` and `photos` (`appliance health`), `update` (the whole update, rollback,
recovery), `boot` (the boot selector and its crash-loop counter), `journal` (the audit log and open exams),
`migration` (store copies and snapshots), `status` (`appliance update status`). The README's Updates section
is the runbook.
"""
