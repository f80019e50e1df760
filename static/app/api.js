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

export function getCookie(name) {
  for (const part of document.cookie ? document.cookie.split(";") : []) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return "";
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
  if (method !== "GET") headers["X-CSRFToken"] = getCookie("csrftoken");
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
