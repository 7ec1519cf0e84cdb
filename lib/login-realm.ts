/**
 * `user@realm` logins (MQTT username, STOMP login): the part after the last `@` names
 * the realm to join, the part before it is the user. Without `@` the whole is the user.
 */
export function splitLogin(login: string): { user: string; realm: string | undefined } {
  const at = login.lastIndexOf('@');
  return at >= 0 ? { user: login.slice(0, at), realm: login.slice(at + 1) } : { user: login, realm: undefined };
}
