#!/usr/bin/env node
// Prints a bearer token for local development and tests, signed with the configured key:
//   npm run token -- --sub alice --roles supervisor,warehouse_operator [--name "Alice"] [--email a@x] [--expires-in 8h]
// HS256 with JWT_SECRET (or the development secret), RS256 with --private-key FILE.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import jwt from 'jsonwebtoken';

const DEVELOPMENT_JWT_SECRET = 'development-only-secret-change-me-0123456789abcdef';

const { values } = parseArgs({
  options: {
    sub: { type: 'string' },
    roles: { type: 'string', default: '' },
    name: { type: 'string' },
    email: { type: 'string' },
    'expires-in': { type: 'string', default: '8h' },
    'private-key': { type: 'string' },
  },
});

if (!values.sub) {
  process.stderr.write(
    'usage: npm run token -- --sub USER_ID [--roles r1,r2] [--name N] [--email E] [--expires-in 8h] [--private-key FILE]\n',
  );
  process.exit(2);
}

const claims = {
  sub: values.sub,
  roles: values.roles
    .split(',')
    .map((role) => role.trim())
    .filter(Boolean),
  ...(values.name ? { name: values.name } : {}),
  ...(values.email ? { email: values.email } : {}),
};
const options = {
  expiresIn: values['expires-in'],
  ...(process.env.JWT_ISSUER ? { issuer: process.env.JWT_ISSUER } : {}),
  ...(process.env.JWT_AUDIENCE ? { audience: process.env.JWT_AUDIENCE } : {}),
};
const token = values['private-key']
  ? jwt.sign(claims, readFileSync(values['private-key'], 'utf8'), { ...options, algorithm: 'RS256' })
  : jwt.sign(claims, process.env.JWT_SECRET || DEVELOPMENT_JWT_SECRET, { ...options, algorithm: 'HS256' });
process.stdout.write(`${token}\n`);
