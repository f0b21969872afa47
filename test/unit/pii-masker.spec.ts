import { createTextMasker, maskText } from '../../src/compliance/erasure/pii-masker.js';

/** Compares megabyte strings by their first difference (Jest's diff of two such strings would take minutes). */
function expectSameText(actual: string, expected: string): void {
  let index = 0;
  while (index < actual.length && index < expected.length && actual[index] === expected[index]) index += 1;
  const around = (text: string) => text.slice(Math.max(0, index - 40), index + 40);
  expect({ length: actual.length, around: around(actual) }).toEqual({ length: expected.length, around: around(expected) });
}

describe('maskText', () => {
  describe('e-mail addresses', () => {
    it.each([
      ['mail olga.petrova@example.com now', 'mail [email] now'],
      ['<olga+wms@mail.example.co.uk>', '<[email]>'],
      ['mailto:o_p-1@sub.example.org.', 'mailto:[email].'],
      ['two: a@example.com, b@example.net', 'two: [email], [email]'],
      ['jürgen.müller@bücher.de schrieb', '[email] schrieb'],
      ['"OLGA@EXAMPLE.COM"', '"[email]"'],
    ])('%s', (text, masked) => expect(maskText(text)).toBe(masked));

    it.each(['see @olga in the chat', 'pallet@dock 3', 'user@localhost', 'a@b', 'price 5 @ 3 EUR', `${'x'.repeat(65)}@example.com`])(
      'leaves %s alone',
      (text) => expect(maskText(text)).toBe(text),
    );
  });

  describe('phone numbers', () => {
    it.each([
      ['call +49 30 1234567 please', 'call [phone] please'],
      ['call 0049 30 1234567', 'call [phone]'],
      ['+44 20 7946 0958 or +44 (0)20 7946 0958', '[phone] or [phone]'],
      ['(415) 555-2671 ext', '[phone] ext'],
      ['at 415-555-2671.', 'at [phone].'],
      ['at 415.555.2671', 'at [phone]'],
      ['+1 415 555 2671', '[phone]'],
      ['mobile: 4155552671', 'mobile: [phone]'],
      ['+33 1 42 68 53 00', '[phone]'],
      ['tel +4915123456789', 'tel [phone]'],
      ['pallets 12 then call (415) 555-2671', 'pallets 12 then call [phone]'],
      ['Tel. Nr. +49 151 23456789', 'Tel. Nr. [phone]'],
      ['my cell, order desk: +1 415 555 2671', 'my cell, order desk: [phone]'],
    ])('%s', (text, masked) => expect(maskText(text)).toBe(masked));

    it.each([
      'SKU 4006381333931',
      'EAN 5901234123457 on the label',
      '4006381333931',
      'order 123456',
      'order 1234567890 is late',
      'order no. 4155552671',
      'PO# 415-555-2671',
      'tracking 1Z999AA10123456784',
      'bin A-12-03',
      'qty 250',
      'move 250 cartons from bin B-04-11 to dock 3',
      'shipped on 2025-01-15, received 15.01.2025',
      'temperature 4-6 C, 1,000,000 units, 12.5 kg',
      'SSCC 340123450000000000',
      'version 1.2.3',
      'call 030 1234567',
    ])('leaves %s alone', (text) => expect(maskText(text)).toBe(text));

    it('reads national formats of the region it is given', () => {
      expect(maskText('call 030 1234567', { phoneRegion: 'DE' })).toBe('call [phone]');
      expect(maskText('ruf 0151 23456789 an', { phoneRegion: 'DE' })).toBe('ruf [phone] an');
      expect(maskText('Auftrag 0151 23456789', { phoneRegion: 'DE' })).toBe('Auftrag 0151 23456789');
    });
  });

  describe('payment card numbers', () => {
    it.each([
      ['card 4111 1111 1111 1111 exp 12/29', 'card [card] exp 12/29'],
      ['4111-1111-1111-1111', '[card]'],
      ['pay with 4111111111111111.', 'pay with [card].'],
      ['amex 3782 822463 10005', 'amex [card]'],
      ['5555555555554444', '[card]'],
      ['19 digits 4111 1111 1111 1111 003', '19 digits [card]'],
      ['paid 2 4111 1111 1111 1111 today', 'paid 2 [card] today'],
      ['card for order: 4111111111111111', 'card for order: [card]'],
    ])('%s', (text, masked) => expect(maskText(text)).toBe(masked));

    it.each([
      '4111 1111 1111 1112',
      '1234567812345670',
      'order 4111111111111111',
      'EAN 5901234123457',
      '5901234123457',
      'SSCC 340123450000000000',
      '4111 11 1111 1111 1111',
    ])('leaves %s alone', (text) => expect(maskText(text)).toBe(text));
  });

  describe('IBANs', () => {
    it.each([
      ['IBAN DE89 3704 0044 0532 0130 00 please', 'IBAN [iban] please'],
      ['DE89370400440532013000', '[iban]'],
      ['to GB82 WEST 1234 5698 7654 32.', 'to [iban].'],
      ['nl91abna0417164300 lower case', '[iban] lower case'],
      ['NL91 ABNA 0417 1643 00 is mine', '[iban] is mine'],
      ['(CH93 0076 2011 6238 5295 7)', '([iban])'],
    ])('%s', (text, masked) => expect(maskText(text)).toBe(masked));

    it.each(['DE89 3704 0044 0532 0130 01', 'DE89370400440532013000X', 'XDE89370400440532013000', 'AB12 3456'])('leaves %s alone', (text) =>
      expect(maskText(text)).toBe(text),
    );
  });

  describe('the person’s own names', () => {
    const names = ['Olga Petrova', 'olga.petrova@example.com'];

    it.each([
      ['Olga Petrova asked', '[name] asked'],
      ['olga  petrova asked', '[name] asked'],
      ['OLGA asked PETROVA', '[name] asked [name]'],
      ['for Olga.', 'for [name].'],
      ['Olga’s pallet', '[name]’s pallet'],
      ['Olgas pallet', 'Olgas pallet'],
      ['Volga river', 'Volga river'],
      ['petrovasky', 'petrovasky'],
      ['mail olga.petrova@example.com', 'mail [email]'],
      ['mail OLGA.PETROVA@EXAMPLE.COM', 'mail [email]'],
    ])('%s', (text, masked) => expect(maskText(text, { names })).toBe(masked));

    it('matches Unicode names case-insensitively and in either normalisation', () => {
      const masker = createTextMasker({ names: ['Jürgen Größe', 'Иван Петров', '王伟'] });
      expect(masker('jürgen größe and JÜRGEN')).toBe('[name] and [name]');
      expect(masker('Ju\u0308rgen')).toBe('[name]');
      expect(masker('ИВАН ПЕТРОВ пришёл, петров тоже')).toBe('[name] пришёл, [name] тоже');
      expect(masker('王伟说')).toBe('王伟说');
      expect(masker('王伟 说')).toBe('[name] 说');
    });

    it('treats names as text, never as a pattern', () => {
      expect(maskText('a.b axb a+b (x) a.b', { names: ['a.b', '(x)'] })).toBe('[name] axb a+b [name] [name]');
      expect(maskText('c++ rocks, c rocks', { names: ['c++', 'Anne-Marie'] })).toBe('[name] rocks, c rocks');
      expect(maskText('anne-marie and anne and marie', { names: ['Anne-Marie'] })).toBe('[name] and anne and marie');
    });

    it('skips initials and empty names', () => {
      expect(maskText('J. Smith and J', { names: ['J Smith', '', '  '] })).toBe('J. [name] and J');
    });
  });

  it('masks a realistic warehouse message and keeps every warehouse number', () => {
    const text =
      'Hi, Olga Petrova here (olga.petrova@example.com, +49 151 23456789). Order 123456: SKU 4006381333931, qty 250, ' +
      'bin A-12-03, pallet 340123450000000000. Refund to DE89 3704 0044 0532 0130 00 or card 4111 1111 1111 1111.';
    expect(maskText(text, { names: ['Olga Petrova'] })).toBe(
      'Hi, [name] here ([email], [phone]). Order 123456: SKU 4006381333931, qty 250, ' +
        'bin A-12-03, pallet 340123450000000000. Refund to [iban] or card [card].',
    );
  });

  it('leaves text without personal data unchanged', () => {
    const text = 'Short pick at aisle 7: 12 of 40 picked, 28 back-ordered. 中文：托盘坏了 🚚';
    expect(maskText(text, { names: ['Olga'] })).toBe(text);
    expect(maskText('')).toBe('');
  });

  describe('hostile input of 1 MB completes with the right output', () => {
    const MB = 1 << 20;
    const names = ['Olga Petrova', 'olga@example.com'];
    it.each([
      ['digits and spaces', '1 '.repeat(MB / 2)],
      ['a long digit run', '7'.repeat(MB)],
      ['digit groups', '12 34 56 '.repeat(MB / 9)],
      ['trunk zeros', '01 '.repeat(MB / 3)],
      ['parentheses and dots', '(1-2.3/4 '.repeat(MB / 9)],
      ['at signs', 'a@'.repeat(MB / 2)],
      ['a local part without a domain', `${'a.'.repeat(MB / 2)}@`],
      ['dots after an at sign', `x@${'a.'.repeat(MB / 2)}`],
      ['IBAN starts', 'DE89 '.repeat(MB / 5)],
      ['almost names', 'Olg Petrov '.repeat(MB / 11)],
      ['spaces between name parts', `Olg${' '.repeat(MB)}Petrov`],
      ['card-like groups', '4111 '.repeat(MB / 5)],
    ])('%s', (_case, text) => {
      expectSameText(maskText(text, { names }), text);
    });

    it('a megabyte of phone numbers, each masked', () => {
      const text = 'call +1 415 555 2671 '.repeat(MB / 21);
      expectSameText(maskText(text), 'call [phone] '.repeat(MB / 21));
    });

    it('a megabyte of names and addresses, each masked', () => {
      const text = 'Olga Petrova olga@example.com '.repeat(MB / 30);
      expectSameText(maskText(text, { names }), '[name] [email] '.repeat(MB / 30));
    });

    it('a long name run ends masked where the name ends', () => {
      expectSameText(maskText(`Olga${' '.repeat(MB)}Petrova`, { names }), '[name]');
    });
  });
});
