import { ConfigValidationError, loadAppConfig } from '../../src/common/config/app-config.js';

describe('parser sandbox configuration', () => {
  it('defaults the parser limits', () => {
    expect(loadAppConfig({}).attachmentParser).toEqual({ memoryMb: 1024, timeoutMs: 60_000, maxImagePixels: 50_000_000 });
    expect(loadAppConfig({}).attachments.maxExtractionMb).toBe(50);
  });

  it('reads the parser limits from the environment', () => {
    expect(
      loadAppConfig({ ATTACHMENT_PARSER_MEMORY_MB: '256', ATTACHMENT_PARSER_TIMEOUT_MS: '5000', ATTACHMENT_MAX_IMAGE_PIXELS: '12000000' })
        .attachmentParser,
    ).toEqual({ memoryMb: 256, timeoutMs: 5000, maxImagePixels: 12_000_000 });
  });

  it('refuses limits a parser could not work with, naming each variable', () => {
    try {
      loadAppConfig({ ATTACHMENT_PARSER_MEMORY_MB: '64', ATTACHMENT_PARSER_TIMEOUT_MS: 'soon', ATTACHMENT_MAX_IMAGE_PIXELS: '999999999' });
      throw new Error('expected a ConfigValidationError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigValidationError);
      const problems = (error as ConfigValidationError).problems.join('\n');
      expect(problems).toContain('ATTACHMENT_PARSER_MEMORY_MB');
      expect(problems).toContain('ATTACHMENT_PARSER_TIMEOUT_MS');
      expect(problems).toContain('ATTACHMENT_MAX_IMAGE_PIXELS');
    }
  });
});
