// Reading the TLS files an OTLP endpoint names (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_KEY,
// _CLIENT_CERTIFICATE): the one reader for the SDK's exporters, the exit-time flush and
// otel-launch doctor. Loaded with them; only node:fs.
import { readFileSync } from 'node:fs';

/** The TLS material of one endpoint, as node:tls takes it. */
export interface TlsFiles {
  readonly ca?: Buffer | undefined;
  readonly key?: Buffer | undefined;
  readonly cert?: Buffer | undefined;
}

/** Where an endpoint's TLS files are (the fields of an OtlpSignalConfig). */
export interface TlsFilePaths {
  readonly certificateFile: string | undefined;
  readonly clientKeyFile: string | undefined;
  readonly clientCertificateFile: string | undefined;
}

/** Which file could not be read. */
export type TlsFileRole = 'certificate' | 'client key' | 'client certificate';

/**
 * Called for a file that cannot be read; the file is then left out. It may throw, and then
 * readTlsFiles throws that.
 */
export type OnUnreadableTlsFile = (
  role: TlsFileRole,
  file: string,
  err: Error
) => void;

/** Reads the files of `paths` that are set. By default an unreadable file is left out. */
export function readTlsFiles(
  paths: TlsFilePaths,
  onUnreadable: OnUnreadableTlsFile = () => undefined
): TlsFiles {
  const read = (
    file: string | undefined,
    role: TlsFileRole
  ): Buffer | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file);
    } catch (err) {
      onUnreadable(
        role,
        file,
        err instanceof Error ? err : new Error(String(err))
      );
      return undefined;
    }
  };
  return {
    ca: read(paths.certificateFile, 'certificate'),
    key: read(paths.clientKeyFile, 'client key'),
    cert: read(paths.clientCertificateFile, 'client certificate'),
  };
}
