// Files: browse the container's folders, download a file or folder (as tar),
// upload a file into the folder shown; through the engine's archive API.
import { useRef, useState } from 'react';
import { api } from '../../api/client.js';
import { toasts } from '../../stores/toasts.js';
import { bytes } from '../../format.js';
import { useCall } from '../../hooks.js';

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export function FilesTab({ id, start = '/' }: { id: string; start?: string }) {
  const [dir, setDir] = useState(start);
  const { data, error, loading, reload } = useCall('containers.files', { id, path: dir }, [id, dir]);
  const upload = useRef<HTMLInputElement>(null);
  const crumbs = dir.split('/').filter(Boolean);

  async function onUpload(files: FileList | null) {
    const file = files?.[0];
    if (!file) return;
    const url = api.httpUrl(
      `/api/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(dir)}&name=${encodeURIComponent(file.name)}`,
    );
    const res = await fetch(url, { method: 'PUT', body: file, credentials: 'same-origin' });
    if (res.ok) toasts.getState().push('info', `${file.name} uploaded to ${dir}`);
    else
      toasts
        .getState()
        .push('error', ((await res.json().catch(() => ({}))) as { error?: string }).error ?? res.statusText);
    if (upload.current) upload.current.value = '';
    reload();
  }

  return (
    <div className="files">
      <div className="toolbar">
        <nav aria-label="Folder" className="crumbs">
          <button type="button" className="ghost" onClick={() => setDir('/')}>
            /
          </button>
          {crumbs.map((c, i) => (
            <button
              key={i}
              type="button"
              className="ghost"
              onClick={() => setDir('/' + crumbs.slice(0, i + 1).join('/'))}
            >
              {c}/
            </button>
          ))}
        </nav>
        <label className="button">
          Upload a file here
          <input
            ref={upload}
            type="file"
            className="visually-hidden"
            aria-label={`Upload a file to ${dir}`}
            onChange={(e) => void onUpload(e.target.files)}
          />
        </label>
      </div>
      {error && <p className="error">{error}</p>}
      {loading && !data && <p className="muted">Loading…</p>}
      <table className="table" aria-label={`Files in ${dir}`}>
        <thead>
          <tr>
            <th>Name</th>
            <th>Size</th>
            <th>Mode</th>
            <th>Modified</th>
            <th>
              <span className="visually-hidden">Download</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {dir !== '/' && (
            <tr>
              <td colSpan={5}>
                <button
                  type="button"
                  className="ghost"
                  onClick={() => setDir(dir.replace(/\/[^/]+$/, '') || '/')}
                >
                  ..
                </button>
              </td>
            </tr>
          )}
          {data?.map((f) => (
            <tr key={f.name}>
              <td>
                {f.type === 'dir' ? (
                  <button type="button" className="ghost" onClick={() => setDir(join(dir, f.name))}>
                    {f.name}/
                  </button>
                ) : (
                  <span>
                    {f.name}
                    {f.type === 'symlink' && f.linkTarget ? ` → ${f.linkTarget}` : ''}
                  </span>
                )}
              </td>
              <td>{f.type === 'file' ? bytes(f.size) : ''}</td>
              <td className="mono">{f.mode.toString(8).padStart(4, '0')}</td>
              <td>{f.mtime ? new Date(f.mtime).toLocaleString() : ''}</td>
              <td>
                <a
                  href={api.httpUrl(
                    `/api/containers/${encodeURIComponent(id)}/archive?path=${encodeURIComponent(join(dir, f.name))}`,
                  )}
                  download
                  aria-label={`Download ${f.name}`}
                >
                  Download
                </a>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
