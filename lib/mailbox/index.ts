export {
  Mailboxes,
  type Appended,
  type MailboxDepth,
  type MailboxesOptions,
  type MailboxPolicy,
  type MailMessage,
  type StoredMessage,
} from './mailboxes';
export { inRealm, isOwnerKind, mailboxName, OWNER_KINDS, type Owner, type OwnerKind } from './owner';
export { OwnerQuota } from './owner-quota';
export { mailboxPolicy } from './policies';
