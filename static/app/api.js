// Small wrappers around fetch for the JSON API: errors carry the status, the body and Retry-After.

export class ApiError extends Error {
  constructor(message, { status = 0, body = null, retryAfter = null } = {}) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.retryAfter = retryAfter;
  }
}

// The page's CSRF token: its session holds the secret, the template puts it in <meta name="csrf-token">.
export function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content || "";
}

// Cancel tokens: creating a run or sweep anonymously answers one, once; this browser keeps it
// (localStorage, per id) and sends it as X-Cancel-Token with every request to that run or sweep:
// the writes (cancel, resume, rename, delete) need it, and the reads say by `controllable`
// whether this browser may make them. Without it only staff may change the run.
const TOKEN_KEY = "bt-cancel-token:";
const OWNED_URL = /^\/api\/(?:runs|sweeps)\/([0-9a-f-]{36})\//;

export function cancelTokenKeep(id, token) {
  if (!id || !token) return;
  try {
    localStorage.setItem(TOKEN_KEY + id, token);
  } catch {
    // storage full or disabled: the run can still be watched, only not cancelled from here
  }
}

export function cancelToken(id) {
  try {
    return localStorage.getItem(TOKEN_KEY + id) || "";
  } catch {
    return "";
  }
}

function ownedId(url) {
  const match = OWNED_URL.exec(new URL(url, window.location.origin).pathname);
  return match ? match[1] : null;
}

async function parseBody(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { detail: text.slice(0, 300) };
  }
}

export async function requestJSON(url, { method = "GET", body, signal } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, signal, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") headers["X-CSRFToken"] = csrfToken();
  const id = ownedId(url);
  const token = id ? cancelToken(id) : "";
  if (token) headers["X-Cancel-Token"] = token;
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The server could not be reached; check the connection and try again.");
  }
  const data = await parseBody(response);
  if (!response.ok) {
    const detail = data && typeof data.detail === "string" ? data.detail : `${response.status} ${response.statusText}`;
    const retry = response.headers.get("Retry-After");
    throw new ApiError(detail, { status: response.status, body: data, retryAfter: retry ? Number(retry) : null });
  }
  if (method === "POST" && data && data.cancel_token) cancelTokenKeep(data.id, data.cancel_token);
  if (method === "DELETE" && ownedId(url)) {
    try {
      localStorage.removeItem(TOKEN_KEY + ownedId(url));
    } catch {
      // nothing kept
    }
  }
  return data;
}

export const getJSON = (url, options) => requestJSON(url, options);
export const postJSON = (url, body, options = {}) => requestJSON(url, { ...options, method: "POST", body });

// A list endpoint, paginated ({count, next, results}) or not (a plain array): every item.
export async function getAll(url, { signal, maxPages = 100 } = {}) {
  const items = [];
  let next = url;
  for (let page = 0; next && page < maxPages; page += 1) {
    const data = await getJSON(next, { signal });
    if (Array.isArray(data)) return items.concat(data);
    items.push(...(data.results || []));
    next = data.next || null;
  }
  return items;
}

export function withQuery(url, params) {
  const u = new URL(url, window.location.origin);
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") u.searchParams.set(key, value);
  }
  return u.origin === window.location.origin ? u.pathname + u.search : u.toString();
}

// Any other method (PATCH, DELETE), with the same errors.
export const sendJSON = (method, url, body, options = {}) => requestJSON(url, { ...options, method, body });
