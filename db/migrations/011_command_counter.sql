-- A box must never act on a command twice, nor on an old one replayed to it, also after it reboots
-- and has forgotten the ids it saw. Every command carries a per-device counter, strictly increasing,
-- signed with it; the box keeps the last one it accepted in persistent storage and refuses anything
-- not above it (docs/device-protocol.md). The counter is taken at a command's first send and fixed
-- with its other signed fields, so a resend is the same message.
alter table device add column command_counter bigint not null default 0;
alter table command add column counter bigint;
