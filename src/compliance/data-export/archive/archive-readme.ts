import type { ArchiveManifest } from './data-archive.writer.js';

/** The archive's README.md: what it is, each file, how to verify it, and where the data comes from. */
export function archiveReadme(manifest: ArchiveManifest): string {
  const requester = manifest.requestedBy;
  const requestedBy =
    requester.userId === manifest.subjectUserId
      ? 'you'
      : `\`${requester.userId}\`${requester.roles.length > 0 ? ` (roles: ${requester.roles.join(', ')})` : ''}`;
  const lines = [
    '# Your data from the WMS chat service',
    '',
    `This archive holds everything the WMS chat service stored about the user \`${manifest.subjectUserId}\` when it was ` +
      `generated (${manifest.generatedAt}), for the right of access and the right to data portability (GDPR Art. 15 and 20). ` +
      `It was requested by ${requestedBy}.`,
    '',
    `Format: \`${manifest.format}\`, version ${manifest.formatVersion}. Totals: ${manifest.totals.records} records, ` +
      `${manifest.totals.files} files, ${manifest.totals.bytes} bytes in ${manifest.totals.entries} entries (before this README).`,
    '',
    '## How the archive is laid out',
    '',
    '- `json/<name>.jsonl`: records in JSON Lines: one JSON object per line, UTF-8. Times are ISO 8601 in UTC; ids are strings.',
    '- `csv/<name>.csv`: the same records as CSV (RFC 4180: comma-separated, CRLF line ends, UTF-8 with a byte order mark so ' +
      'spreadsheets read it as UTF-8). Nested values are JSON text, lists of plain values are joined with `; `. A cell that ' +
      'starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a leading apostrophe so that no spreadsheet runs it as ' +
      'a formula; the JSON Lines file has the value exactly as stored.',
    '- `files/...`: the files themselves (for example your attachments), byte for byte as stored.',
    '- `manifest.json`: the machine-readable index: format and version, whose data, when, requested by whom, every file with ' +
      'its kind, record count, size and SHA-256, and the counts per data source.',
    '- `SHA256SUMS`: the SHA-256 of every file listed below, in the format `sha256sum` reads.',
    '- `README.md`: this file.',
    '',
    '## Files',
    '',
    '| File | Contents | Records | Bytes | SHA-256 |',
    '| --- | --- | ---: | ---: | --- |',
    ...manifest.entries.map(
      (entry) => `| \`${entry.path}\` | ${cell(entry.description)} | ${entry.records ?? ''} | ${entry.size} | \`${entry.sha256}\` |`,
    ),
    '',
    '## Checking the archive',
    '',
    'Every file has its SHA-256 in `SHA256SUMS` and in `manifest.json`, computed while the archive was written. To check them:',
    '',
    '```sh',
    'unzip wms-chat-data-export.zip -d my-data',
    'cd my-data',
    'sha256sum -c SHA256SUMS          # Linux; on macOS: shasum -a 256 -c SHA256SUMS',
    '```',
    '',
    'Each line must end in `OK`. On Windows (PowerShell): `Get-FileHash -Algorithm SHA256 <file>` and compare with the list. ' +
      '`manifest.json` lists the same checksums plus those of `README.md` and `SHA256SUMS`.',
    '',
    '## Where the data comes from',
    '',
    'Each data source of the service contributed its part; this is what each holds of a user.',
    '',
    ...manifest.providers.flatMap((provider) => [
      `### ${provider.name}`,
      '',
      ...provider.holdings.map(
        (holding) =>
          `- \`${holding.store}\`${holding.userFields.length > 0 ? ` (by ${holding.userFields.map((field) => `\`${field}\``).join(', ')})` : ''}: ${holding.description}`,
      ),
      `- In this archive: ${provider.counts.records} records, ${provider.counts.files} files, ${provider.counts.parts} entries, ${provider.counts.bytes} bytes.`,
      '',
    ]),
  ];
  return `${lines.join('\n')}\n`;
}

/** Text safe inside a Markdown table cell. */
function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}
