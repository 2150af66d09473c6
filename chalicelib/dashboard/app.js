// tickwork dashboard: plain JavaScript, no build step.
//
// Every piece of data comes from the token-protected /api routes; this file and the page are
// public and hold none. Untrusted strings (job types, messages, logs, errors, names) only ever
// reach the page as text nodes or attribute values: nothing here assigns innerHTML.
'use strict';

(() => {
  const TOKEN_KEY = 'tickwork.token';
  const LIST_POLL_MS = 1500;
  const DETAIL_POLL_MS = 1000;
  const PREVIEW_DELAY_MS = 250;
  const REQUEST_TIMEOUT_MS = 15000;
  const PAGE_SIZE = 50;
  // A batch holds up to 1,000 children: its view shows them a page at a time.
  const CHILDREN_PAGE_SIZE = 25;
  // Each listed store's backlog costs the API a few queries: fewer stores a page, read less often.
  const STORES_PAGE_SIZE = 25;
  const STORE_LOAD_MS = 10000;
  const STORE_LOAD_PARALLEL = 4;
  // The overview reads up to 240 small items and the queues' depths: not at every poll.
  const OVERVIEW_MS = 10000;
  const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'expired']);
  const CANCELLABLE = new Set(['pending', 'retrying', 'running']);
  const RETRYABLE = new Set(['failed', 'cancelled']);
  const PRIORITIES = ['urgent', 'high', 'normal', 'low'];
  const STATUSES = ['pending', 'running', 'retrying', 'cancelling', 'completed', 'failed', 'cancelled', 'expired'];
  // A batch counts its children waiting (pending or retrying), running (or cancelling) and ended, by outcome.
  const BATCH_COUNTS = ['pending', 'running', 'completed', 'failed', 'cancelled', 'expired'];
  const BATCH_FINAL = new Set(['succeeded', 'finished']);
  // The page is served at <root>/ and the API lives at <root>/api/.
  const API_BASE = new URL('api/', document.baseURI);

  const $ = (selector, root = document) => root.querySelector(selector);

  // ---- DOM helpers: text only ----------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith('on') && typeof value === 'function') el.addEventListener(name.slice(2), value);
      else if (name === 'class') el.className = value;
      else if (name === 'dataset') Object.assign(el.dataset, value);
      else el.setAttribute(name, value === true ? '' : String(value));
    }
    fill(el, children, false);
    return el;
  }

  // Append (or, with replace, set) children: nested arrays flattened, null/false skipped,
  // strings as text nodes.
  function fill(el, children, replace = true) {
    const nodes = [children].flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false)
      .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
    if (replace) el.replaceChildren(...nodes); else el.append(...nodes);
  }

  function shortId(id) {
    return String(id || '').slice(0, 8);
  }

  function when(iso) {
    if (!iso) return h('span', { class: 'muted' }, '—');
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return h('time', { datetime: iso, title: iso }, date.toLocaleString());
  }

  function relative(iso) {
    if (!iso) return '';
    const seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    const abs = Math.abs(seconds);
    const [n, unit] = abs < 90 ? [abs, 's'] : abs < 5400 ? [Math.round(abs / 60), 'min'] :
      abs < 129600 ? [Math.round(abs / 3600), 'h'] : [Math.round(abs / 86400), 'd'];
    return seconds >= 0 ? `in ${n} ${unit}` : `${n} ${unit} ago`;
  }

  function badge(status) {
    return h('span', { class: `badge s-${String(status || 'unknown').replace(/[^a-z_]/g, '')}` }, status || 'unknown');
  }

  function progressBar(job, what = 'job') {
    const value = Math.max(0, Math.min(100, Number(job.progress) || 0));
    return h('div', { class: 'progress' },
      h('progress', { max: '100', value: String(value), 'aria-label': `Progress of ${what} ${job.id}` }),
      h('span', { class: 'pct' }, `${value} %`));
  }

  function pretty(value) {
    return h('pre', { class: 'json' }, JSON.stringify(value, null, 2));
  }

  function cell(label, ...content) {
    // data-label lets the phone layout show each cell as "label: value".
    return h('td', { 'data-label': label }, ...content);
  }

  function button(label, onclick, attrs = {}) {
    return h('button', { type: 'button', class: 'small', onclick, ...attrs }, label);
  }

  // Rows keyed by id and redrawn only when their data changed: polling does not steal focus
  // from a button in a row that stayed the same.
  function renderRows(tbody, items, build) {
    const existing = new Map([...tbody.children].map((row) => [row.dataset.key, row]));
    const rows = items.map((item) => {
      const signature = JSON.stringify(item);
      const old = existing.get(item.id);
      if (old && old.dataset.signature === signature) return old;
      const row = build(item);
      row.dataset.key = item.id;
      row.dataset.signature = signature;
      return row;
    });
    tbody.replaceChildren(...rows);
  }

  // ---- notices -------------------------------------------------------------------------

  let noticeTimer = null;
  function notify(message, kind = 'info') {
    const box = $('#notice');
    box.className = `notice ${kind}`;
    box.textContent = message;
    clearTimeout(noticeTimer);
    noticeTimer = setTimeout(() => { box.textContent = ''; box.className = 'notice'; }, 6000);
  }

  // ---- API -----------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, code, status, details) {
      super(message);
      this.code = code || 'error';
      this.status = status;
      this.details = Array.isArray(details) ? details : [];
    }
  }

  function token() {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  }

  async function api(method, path, body) {
    const bearer = token();
    if (!bearer) throw new ApiError('Paste a token first.', 'no_token', 401);
    // Cron schedules are described in the reader's language where the API knows it (else English).
    const headers = { Authorization: `Bearer ${bearer}`, 'Accept-Language': navigator.language || 'en' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let response;
    // A request that never answers must not hold the poller (it waits for the previous poll).
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), REQUEST_TIMEOUT_MS);
    try {
      response = await fetch(new URL(path, API_BASE), {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store',
        signal: abort.signal,
      });
    } catch (error) {
      const reason = abort.signal.aborted ? `no answer within ${REQUEST_TIMEOUT_MS / 1000} s` : error.message;
      throw new ApiError(`The API did not answer (${reason}).`, 'network', 0);
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try { data = await response.json(); } catch (_) { data = null; }
    if (!response.ok || !data || data.success === false) {
      const error = new ApiError(
        (data && data.error) || `The API answered HTTP ${response.status}.`,
        data && data.code, response.status, data && data.details);
      if (response.status === 401) signedOut(error.message);
      throw error;
    }
    return data;
  }

  function query(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) if (value) search.set(key, value);
    const text = search.toString();
    return text ? `?${text}` : '';
  }

  const jobPath = (id) => `background-jobs/${encodeURIComponent(id)}`;
  const cronPath = (id) => `cron-jobs/${encodeURIComponent(id)}`;
  const batchPath = (id) => `background-jobs/batches/${encodeURIComponent(id)}`;

  // ---- session ---------------------------------------------------------------------------

  // The token's claims, unverified (null: not a JWT): for display only, the server checks each call.
  function claimsOf(value) {
    try {
      const part = value.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const claims = JSON.parse(atob(part));
      return claims && typeof claims === 'object' ? claims : null;
    } catch (_) {
      return null;
    }
  }

  function describeToken(value) {
    const claims = claimsOf(value);
    if (!claims) return 'token';
    const stores = Array.isArray(claims.stores) && claims.stores.length ? ` · stores ${claims.stores.join(', ')}` : '';
    return `${claims.role || 'unknown role'}${claims.plugin_id ? ` (${claims.plugin_id})` : ''}${stores}`;
  }

  function signedOut(reason) {
    sessionStorage.removeItem(TOKEN_KEY);
    stopPolling();
    views.stores.clear();
    views.overview.clear();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    $('#session').hidden = true;
    for (const view of document.querySelectorAll('.view')) view.hidden = true;
    $('#token-panel').hidden = false;
    $('#token-error').textContent = reason || '';
    $('#token-input').focus();
  }

  async function signIn(value) {
    sessionStorage.setItem(TOKEN_KEY, value);
    try {
      const data = await api('GET', 'job-types');
      fillJobTypes(data.job_types || []);
    } catch (error) {
      if (error.status !== 401) signedOut(error.message);
      return false;
    }
    $('#token-panel').hidden = true;
    $('#token-error').textContent = '';
    $('#session').hidden = false;
    $('#whoami').textContent = `Signed in: ${describeToken(value)}`;
    // Display only: the stores routes answer 403 to any other token.
    $('#stores-tab').hidden = (claimsOf(value) || {}).role !== 'admin';
    $('#overview-tab').hidden = (claimsOf(value) || {}).role !== 'admin';
    show(currentTab());
    return true;
  }

  function fillJobTypes(types) {
    const list = $('#job-type-list');
    list.replaceChildren(...types.map((t) => h('option', { value: t.type || t.name || '' })));
  }

  function fillTimezones() {
    const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : [];
    $('#timezone-list').replaceChildren(...['UTC', ...zones].map((z) => h('option', { value: z })));
  }

  // ---- views and polling ---------------------------------------------------------------

  const TABS = ['jobs', 'batches', 'crons', 'failed', 'queues', 'stores', 'overview'];
  const views = {};
  let pollTimer = null;
  let pollBusy = false;

  function currentTab() {
    const name = location.hash.replace(/^#/, '');
    return TABS.includes(name) ? name : 'jobs';
  }

  function show(name) {
    for (const tab of TABS) {
      $(`#view-${tab}`).hidden = tab !== name;
      const link = $(`[data-tab="${tab}"]`);
      if (tab === name) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
    }
    startPolling();
  }

  async function refreshCurrent() {
    if (pollBusy || !token() || document.hidden) return;
    pollBusy = true;
    try {
      await views[currentTab()].refresh();
    } catch (error) {
      if (error.status !== 401) notify(error.message, 'error');
    } finally {
      pollBusy = false;
    }
  }

  function startPolling() {
    stopPolling();
    refreshCurrent();
    pollTimer = setInterval(refreshCurrent, LIST_POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  // A paged list: polling refreshes the first page; "Load more" appends older pages and
  // pauses the refresh (it would otherwise drop them) until the filter changes.
  function pagedList({ tbody, empty, more, path, key, build }) {
    let items = [];
    let nextToken = null;
    let extended = false;
    const draw = () => {
      renderRows(tbody, items, build);
      empty.hidden = items.length > 0;
      more.hidden = !nextToken;
    };
    const fetchPage = async (from) => {
      const data = await api('GET', path(from));
      return [data[key] || [], data.next_token || null];
    };
    more.addEventListener('click', async () => {
      try {
        const [page, next] = await fetchPage(nextToken);
        items = items.concat(page.filter((item) => !items.some((known) => known.id === item.id)));
        nextToken = next;
        extended = true;
        draw();
      } catch (error) {
        notify(error.message, 'error');
      }
    });
    return {
      async refresh(force = false) {
        if (extended && !force) return;
        const [page, next] = await fetchPage(null);
        items = page;
        nextToken = next;
        extended = false;
        draw();
      },
    };
  }

  // ---- jobs ----------------------------------------------------------------------------

  function jobActions(job, after) {
    const buttons = [];
    if (CANCELLABLE.has(job.status)) {
      buttons.push(button('Cancel', () => act(() => api('POST', `${jobPath(job.id)}/cancel`),
        `Job ${shortId(job.id)} cancel requested.`, after), { 'aria-label': `Cancel job ${job.id}` }));
    }
    if (RETRYABLE.has(job.status)) {
      buttons.push(button('Retry', () => act(() => api('POST', `${jobPath(job.id)}/retry`),
        `Job ${shortId(job.id)} queued again.`, after), { 'aria-label': `Retry job ${job.id}` }));
    }
    return buttons;
  }

  async function act(call, message, after) {
    try {
      await call();
      if (message) notify(message, 'ok');
    } catch (error) {
      notify(error.message, 'error');
    }
    if (after) await after();
    await refreshCurrent();
  }

  function jobLink(job) {
    return h('button', { type: 'button', class: 'link mono', onclick: () => openJob(job.id),
      'aria-label': `Open job ${job.id}`, title: job.id }, shortId(job.id));
  }

  function buildJobRow(job) {
    return h('tr', { dataset: { jobId: job.id, status: job.status } },
      cell('Job', jobLink(job)),
      cell('Type', h('span', { class: 'mono' }, job.type), job.plugin_id ? h('small', {}, ` plugin ${job.plugin_id}`) : null),
      cell('Store', job.store_id),
      cell('Status', badge(job.status), job.attempts > 1 ? h('small', {}, ` attempt ${job.attempts}`) : null),
      cell('Progress', progressBar(job)),
      cell('Message', job.progress_message || (job.error ? h('span', { class: 'error' }, job.error) : '')),
      cell('Updated', when(job.updated_at)),
      cell('Actions', h('div', { class: 'actions' }, jobActions(job))));
  }

  const jobFilters = () => Object.fromEntries(new FormData($('#job-filters')).entries());

  views.jobs = pagedList({
    tbody: $('#jobs-table tbody'),
    empty: $('#jobs-empty'),
    more: $('#jobs-more'),
    key: 'jobs',
    path: (from) => `background-jobs${query({ ...jobFilters(), limit: String(PAGE_SIZE), next_token: from })}`,
    build: buildJobRow,
  });

  $('#job-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    views.jobs.refresh(true).catch((error) => notify(error.message, 'error'));
  });
  $('#job-filters').addEventListener('reset', () => {
    setTimeout(() => views.jobs.refresh(true).catch((error) => notify(error.message, 'error')), 0);
  });

  // ---- job detail ----------------------------------------------------------------------

  let openJobId = null;
  let jobTimer = null;

  function field(label, ...value) {
    return [h('dt', {}, label), h('dd', {}, ...value)];
  }

  // The detail is redrawn part by part, each only when its data changed: a poll every second
  // must not take the focus off the Cancel button or reset the log's scroll position.
  function section(parent, name, signature, build) {
    let part = parent.querySelector(`:scope > [data-part="${name}"]`);
    if (!part) {
      part = h('div', { dataset: { part: name } });
      parent.append(part);
    }
    if (part.dataset.signature !== signature) {
      fill(part, build());
      part.dataset.signature = signature;
    }
  }

  function renderJob(job) {
    $('#job-dialog-title').textContent = `Job ${shortId(job.id)} · ${job.type}`;
    const body = $('#job-dialog-body');
    if (body.dataset.jobId !== job.id) {
      body.replaceChildren();
      body.dataset.jobId = job.id;
    }
    const logs = Array.isArray(job.logs) ? job.logs : [];
    section(body, 'progress', JSON.stringify([job.status, job.progress, job.progress_message]), () =>
      h('div', { class: 'detail-progress' }, badge(job.status), progressBar(job),
        h('p', { class: 'message' }, job.progress_message || '')));
    section(body, 'actions', job.status, () => h('div', { class: 'actions' }, jobActions(job, () => loadJob(job.id))));
    section(body, 'facts', JSON.stringify([job.attempts, job.started_at, job.completed_at, job.next_attempt_at, job.scheduled_at, job.debounce_count]), () =>
      h('dl', { class: 'facts' },
        field('Id', h('span', { class: 'mono' }, job.id)),
        field('Type', h('span', { class: 'mono' }, job.type)),
        field('Priority', job.priority),
        field('Store', job.store_id),
        field('Plugin', job.plugin_id || '—'),
        field('Attempts', `${job.attempts} of ${Number(job.max_retries) + 1}`),
        field('Scheduled', when(job.scheduled_at)),
        field('Started', when(job.started_at)),
        field('Finished', when(job.completed_at)),
        job.next_attempt_at ? field('Next attempt', when(job.next_attempt_at)) : [],
        job.start_by ? field('Start by', when(job.start_by)) : [],
        job.debounce_key ? field('Debounced', `${job.debounce_key} (${Number(job.debounce_count) + 1} schedules)`) : [],
        job.dedup_key ? field('Dedup key', job.dedup_key) : [],
        job.cron_job_id ? field('Cron job', h('span', { class: 'mono' }, job.cron_job_id)) : [],
        job.batch_id ? field('Batch', batchLink(job.batch_id)) : [],
        job.metadata && job.metadata.callback_of
          ? field('Callback of', batchLink(job.metadata.callback_of), h('small', {}, ` (${job.metadata.batch_callback || 'callback'})`))
          : [],
        field('Created by', job.created_by || '—')));
    section(body, 'output', JSON.stringify([job.error, job.result, job.payload]), () => [
      job.error ? [h('h3', {}, 'Error'), h('pre', { class: 'error-text' }, job.error)] : [],
      job.result !== null && job.result !== undefined ? [h('h3', {}, 'Result'), pretty(job.result)] : [],
      h('h3', {}, 'Payload'), pretty(job.payload || {})]);
    section(body, 'logs', JSON.stringify(logs), () => [
      h('h3', {}, `Log (${logs.length})`),
      logs.length ? h('ol', { class: 'log' }, logs.map((line) => h('li', {}, line))) : h('p', { class: 'muted' }, 'No log lines.')]);
  }

  async function loadJob(id) {
    try {
      const { job } = await api('GET', jobPath(id));
      if (openJobId !== id) return;
      renderJob(job);
      clearTimeout(jobTimer);
      if (!TERMINAL.has(job.status)) jobTimer = setTimeout(() => loadJob(id), DETAIL_POLL_MS);
    } catch (error) {
      if (openJobId === id) {
        delete $('#job-dialog-body').dataset.jobId;
        $('#job-dialog-body').replaceChildren(h('p', { class: 'error', role: 'alert' }, error.message));
      }
    }
  }

  function openJob(id) {
    openJobId = id;
    $('#job-dialog-title').textContent = `Job ${shortId(id)}`;
    delete $('#job-dialog-body').dataset.jobId;
    $('#job-dialog-body').replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    const dialog = $('#job-dialog');
    if (!dialog.open) dialog.showModal();
    loadJob(id);
  }

  $('#job-dialog').addEventListener('close', () => { openJobId = null; clearTimeout(jobTimer); });

  // ---- batches -------------------------------------------------------------------------

  const ended = (batch) => (Number(batch.completed) || 0) + (Number(batch.failed) || 0) + (Number(batch.cancelled) || 0);

  function batchLink(id) {
    return h('button', { type: 'button', class: 'link mono', onclick: () => openBatch(id),
      'aria-label': `Open batch ${id}`, title: id }, shortId(id));
  }

  function buildBatchRow(batch) {
    const done = ended(batch);
    return h('tr', { dataset: { batchId: batch.id, status: batch.status } },
      cell('Batch', batchLink(batch.id)),
      cell('Description', batch.description || h('span', { class: 'muted' }, '—'),
        batch.note ? [h('br'), h('small', {}, batch.note)] : null),
      cell('Store', batch.store_id),
      cell('Status', badge(batch.status)),
      cell('Ended', h('div', { class: 'progress' },
        h('progress', { max: String(batch.total || 1), value: String(done), 'aria-label': `Children ended of batch ${batch.id}` }),
        h('span', { class: 'pct' }, `${done} / ${batch.total}`))),
      cell('Outcomes', `${batch.completed} completed · ${batch.failed} failed · ${batch.cancelled} cancelled`),
      cell('Created', when(batch.created_at)));
  }

  const batchList = pagedList({
    tbody: $('#batches-table tbody'),
    empty: $('#batches-empty'),
    more: $('#batches-more'),
    key: 'batches',
    path: (from) => `background-jobs/batches${query({
      ...Object.fromEntries(new FormData($('#batch-filters')).entries()), limit: String(PAGE_SIZE), next_token: from })}`,
    build: buildBatchRow,
  });

  views.batches = {
    async refresh(force = false) {
      try {
        await batchList.refresh(force);
        $('#batches-need-store').hidden = true;
      } catch (error) {
        if (error.code !== 'store_id_required') throw error;
        // Batches are listed a store at a time: an admin (or a token of several stores) names one.
        $('#batches-table tbody').replaceChildren();
        $('#batches-empty').hidden = true;
        $('#batches-more').hidden = true;
        $('#batches-need-store').hidden = false;
      }
    },
  };

  $('#batch-filters').addEventListener('submit', (event) => {
    event.preventDefault();
    views.batches.refresh(true).catch((error) => notify(error.message, 'error'));
  });
  $('#batch-filters').addEventListener('reset', () => {
    setTimeout(() => views.batches.refresh(true).catch((error) => notify(error.message, 'error')), 0);
  });

  // ---- batch detail: counts, callbacks, children ---------------------------------------

  let openBatchId = null;
  let batchTimer = null;

  const batchChildren = pagedList({
    tbody: $('#batch-children-table tbody'),
    empty: $('#batch-children-empty'),
    more: $('#batch-children-more'),
    key: 'jobs',
    path: (from) => `${batchPath(openBatchId)}/jobs${query({
      status: $('#batch-children-status').value, limit: String(CHILDREN_PAGE_SIZE), next_token: from })}`,
    build: (job) => h('tr', { dataset: { jobId: job.id, status: job.status } },
      cell('Job', jobLink(job)),
      cell('Type', h('span', { class: 'mono' }, job.type)),
      cell('Status', badge(job.status)),
      cell('Progress', progressBar(job)),
      cell('Message', job.progress_message || (job.error ? h('span', { class: 'error' }, job.error) : '')),
      cell('Updated', when(job.updated_at))),
  });

  const CALLBACK_HINTS = {
    waiting: { on_complete: 'runs once every child has ended', on_success: 'runs if every child completes' },
    skipped: { on_success: 'not every child completed: it does not run' },
  };

  function callbackRow(callback) {
    const hint = (CALLBACK_HINTS[callback.state] || {})[callback.name];
    return h('tr', { dataset: { callback: callback.name, state: callback.state } },
      cell('Callback', h('span', { class: 'mono' }, callback.name)),
      cell('Type', h('span', { class: 'mono' }, callback.type)),
      cell('State', badge(callback.state), callback.job_status ? [' ', badge(callback.job_status)] : null,
        hint ? [h('br'), h('small', {}, hint)] : null),
      cell('Job', callback.job_id ? jobLink({ id: callback.job_id }) : h('span', { class: 'muted' }, '—')),
      cell('Queued', when(callback.queued_at)),
      cell('Finished', when(callback.finished_at)));
  }

  function renderBatch(batch) {
    $('#batch-dialog-title').textContent = `Batch ${shortId(batch.id)}${batch.description ? ` · ${batch.description}` : ''}`;
    const body = $('#batch-dialog-body');
    if (body.dataset.batchId !== batch.id) {
      body.replaceChildren();
      body.dataset.batchId = batch.id;
    }
    const done = ended(batch);
    const callbacks = Array.isArray(batch.callbacks) ? batch.callbacks : [];
    // Cancel only while a child can still be cancelled (a batch being created answers 409).
    const cancellable = batch.status === 'open' && done < batch.total;
    section(body, 'progress', JSON.stringify([batch.status, batch.progress, done, batch.total]), () =>
      h('div', { class: 'detail-progress' }, badge(batch.status), progressBar(batch, 'batch'),
        h('p', { class: 'message' }, `${done} of ${batch.total} children ended`)));
    section(body, 'actions', String(cancellable), () => h('div', { class: 'actions' }, cancellable
      ? button('Cancel', () => act(() => api('POST', `${batchPath(batch.id)}/cancel`),
        `Batch ${shortId(batch.id)}: its unfinished children are cancelled.`, () => loadBatch(batch.id)),
      { 'aria-label': `Cancel batch ${batch.id}` })
      : []));
    section(body, 'counts', JSON.stringify(BATCH_COUNTS.map((name) => batch[name])), () =>
      h('ul', { class: 'counts', 'aria-label': 'Children by status' }, BATCH_COUNTS.map((name) =>
        h('li', { dataset: { status: name } }, h('span', { class: 'count' }, String(batch[name] ?? 0)), badge(name)))));
    section(body, 'facts', JSON.stringify([batch.finished_at, batch.note, batch.total]), () =>
      h('dl', { class: 'facts' },
        field('Id', h('span', { class: 'mono' }, batch.id)),
        field('Description', batch.description || '—'),
        field('Store', batch.store_id),
        field('Plugin', batch.plugin_id || '—'),
        field('Children', String(batch.total)),
        field('Created', when(batch.created_at)),
        field('Finished', when(batch.finished_at)),
        batch.note ? field('Note', batch.note) : []));
    section(body, 'callbacks', JSON.stringify(callbacks), () => [
      h('h3', {}, 'Callbacks'),
      callbacks.length
        ? h('table', { class: 'grid compact', id: 'batch-callbacks-table' },
          h('caption', { class: 'sr-only' }, 'The batch\'s callbacks'),
          h('thead', {}, h('tr', {}, ['Callback', 'Type', 'State', 'Job', 'Queued', 'Finished']
            .map((label) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, callbacks.map(callbackRow)))
        : h('p', { class: 'muted' }, 'No callbacks.')]);
  }

  // Nothing more can change once the batch is final and each callback has ended or will not run.
  function batchSettled(batch) {
    return BATCH_FINAL.has(batch.status) && (batch.callbacks || []).every((callback) =>
      callback.state === 'skipped' || (callback.state === 'queued' && TERMINAL.has(callback.job_status)));
  }

  async function loadBatch(id, fresh = false) {
    try {
      const { batch } = await api('GET', batchPath(id));
      if (openBatchId !== id) return;
      renderBatch(batch);
      await batchChildren.refresh(fresh);
      if (openBatchId !== id) return;
      $('#batch-children').hidden = false;
      clearTimeout(batchTimer);
      if (!batchSettled(batch)) batchTimer = setTimeout(() => loadBatch(id), DETAIL_POLL_MS);
    } catch (error) {
      if (openBatchId === id) {
        delete $('#batch-dialog-body').dataset.batchId;
        $('#batch-children').hidden = true;
        $('#batch-dialog-body').replaceChildren(h('p', { class: 'error', role: 'alert' }, error.message));
      }
    }
  }

  function openBatch(id) {
    // From a job's view: the batch replaces it.
    if ($('#job-dialog').open) $('#job-dialog').close();
    openBatchId = id;
    clearTimeout(batchTimer);
    $('#batch-dialog-title').textContent = `Batch ${shortId(id)}`;
    delete $('#batch-dialog-body').dataset.batchId;
    $('#batch-dialog-body').replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    $('#batch-children').hidden = true;
    $('#batch-children-status').value = '';
    $('#batch-children-table tbody').replaceChildren();
    const dialog = $('#batch-dialog');
    if (!dialog.open) dialog.showModal();
    loadBatch(id, true);
  }

  $('#batch-dialog').addEventListener('close', () => { openBatchId = null; clearTimeout(batchTimer); });
  $('#batch-children-status').addEventListener('change', () => {
    if (openBatchId) batchChildren.refresh(true).catch((error) => notify(error.message, 'error'));
  });
  $('#batch-children-filter').addEventListener('submit', (event) => event.preventDefault());

  // ---- failed jobs and queues ----------------------------------------------------------

  const failedList = pagedList({
    tbody: $('#failed-table tbody'),
    empty: $('#failed-empty'),
    more: $('#failed-more'),
    key: 'jobs',
    path: (from) => `background-jobs${query({ status: 'failed', limit: String(PAGE_SIZE), next_token: from })}`,
    build: (job) => h('tr', { dataset: { jobId: job.id } },
      cell('Job', jobLink(job)),
      cell('Type', h('span', { class: 'mono' }, job.type)),
      cell('Store', job.store_id),
      cell('Attempts', String(job.attempts)),
      cell('Error', h('span', { class: 'error' }, job.error || '')),
      cell('Failed at', when(job.completed_at || job.updated_at)),
      cell('Actions', h('div', { class: 'actions' }, jobActions(job)))),
  });

  function queueRows(queues, columns) {
    return PRIORITIES.filter((p) => queues[p]).map((p) => h('tr', { dataset: { priority: p } },
      cell('Priority', badge(p)), columns.map(([label, name]) => cell(label, String(queues[p][name] ?? 0)))));
  }

  async function loadStats() {
    const { stats } = await api('GET', 'background-jobs/stats');
    return stats || {};
  }

  function redrive(priority) {
    return act(async () => {
      const { total } = await api('POST', 'admin/dead-letters/redrive', { priority });
      notify(`Moved ${total} message${total === 1 ? '' : 's'} back to the ${priority} queue.`, 'ok');
    }, null);
  }

  views.failed = {
    async refresh() {
      const [, stats] = await Promise.all([failedList.refresh(), loadStats()]);
      const queues = stats.queues || null;  // only admins get queue depths, and only admins may redrive
      $('#dlq-table').hidden = !queues;
      $('#dlq-empty').hidden = Boolean(queues);
      $('#dlq-sample-area').hidden = !queues;
      if (!queues) return;
      renderRows($('#dlq-table tbody'), PRIORITIES.filter((p) => queues[p]).map((p) => ({
        id: p, count: queues[p].dead_letter || 0,
      })), ({ id: priority, count }) => h('tr', { dataset: { priority } },
        cell('Priority', badge(priority)),
        cell('Messages', String(count)),
        cell('Actions', count ? button('Redrive', () => redrive(priority), { 'aria-label': `Redrive the ${priority} dead-letter queue` }) : '')));
    },
  };

  // Sampled on demand, not polled: each look is an SQS receive on the dead-letter queue.
  $('#dlq-sample').addEventListener('click', async () => {
    try {
      const { dead_letters: parked } = await api('GET', 'admin/dead-letters');
      $('#dlq-sample-table').hidden = !parked.length;
      $('#dlq-sample-empty').hidden = parked.length > 0;
      $('#dlq-sample-table tbody').replaceChildren(...parked.map((letter) => h('tr', { dataset: { messageId: letter.message_id } },
        cell('Priority', badge(letter.priority)),
        cell('Reason', letter.reason || 'moved by the queue\'s redrive policy'),
        cell('Sent', when(letter.sent_at)),
        cell('Receives', String(letter.receive_count)),
        cell('Body', h('code', { class: 'body' }, letter.body)))));
    } catch (error) {
      notify(error.message, 'error');
    }
  });

  // GET /api/health: when the minute tick last ran; "degraded" once it is 3 minutes late.
  async function showTickHealth() {
    const { status, tick } = await api('GET', 'health');
    const last = tick && tick.last_at;
    const lag = last ? ` (${tick.lag_s} s ago)` : '';
    $('#tick-health').replaceChildren(
      'Minute tick: ', badge(status === 'ok' ? 'ok' : 'degraded'), ' ',
      last ? h('span', {}, 'last ran ', when(last), lag) : h('span', {}, 'has not run yet'));
  }

  views.queues = {
    async refresh() {
      await showTickHealth();
      const stats = await loadStats();
      const counts = stats.counts || {};
      // Past its read budget the API counts a large store only partly: show those counts as lower bounds.
      const atLeast = stats.exact === false ? '≥ ' : '';
      $('#status-counts').replaceChildren(...STATUSES.map((s) => h('li', { dataset: { status: s } },
        h('span', { class: 'count' }, atLeast + String(counts[s] || 0)), badge(s))));
      const queues = stats.queues || null;
      $('#queues-table').hidden = !queues;
      $('#queues-empty').hidden = Boolean(queues);
      if (queues) {
        $('#queues-table tbody').replaceChildren(...queueRows(queues, [
          ['Waiting', 'visible'], ['Delayed', 'delayed'], ['In flight', 'in_flight'], ['Dead-letter', 'dead_letter']]));
      }
    },
  };

  // ---- stores (admin) ------------------------------------------------------------------

  // The listing is polled like the others; each store's backlog and oldest waiting job come from
  // a route of its own, read for the listed stores at most every STORE_LOAD_MS.
  views.stores = (() => {
    const tbody = $('#stores-table tbody');
    const more = $('#stores-more');
    const loads = new Map();
    let stores = [];
    let nextToken = null;
    let extended = false;

    const rows = () => stores.map((store) => ({ ...store, id: store.store_id, load: loads.get(store.store_id)?.load || null }));

    function draw() {
      renderRows(tbody, rows(), buildStoreRow);
      $('#stores-empty').hidden = stores.length > 0;
      more.hidden = !nextToken;
    }

    // Nothing of one session's stores stays on the page for the next token.
    function clear() {
      stores = [];
      nextToken = null;
      extended = false;
      loads.clear();
      tbody.replaceChildren();
    }

    function adminOnly(refused) {
      $('#stores-admin-only').hidden = !refused;
      $('#stores-table').hidden = refused;
      if (refused) {
        clear();
        $('#stores-empty').hidden = true;
        more.hidden = true;
      }
    }

    async function fetchPage(from) {
      const data = await api('GET', `admin/stores${query({ limit: String(STORES_PAGE_SIZE), next_token: from })}`);
      return [data.stores || [], data.next_token || null];
    }

    async function readLoads() {
      const stale = stores.filter((store) => {
        const known = loads.get(store.store_id);
        return !known || Date.now() - known.at > STORE_LOAD_MS;
      });
      for (let i = 0; i < stale.length; i += STORE_LOAD_PARALLEL) {
        await Promise.all(stale.slice(i, i + STORE_LOAD_PARALLEL).map(async (store) => {
          const { load } = await api('GET', `admin/stores/${encodeURIComponent(store.store_id)}/load`);
          loads.set(store.store_id, { load, at: Date.now() });
        }));
      }
    }

    more.addEventListener('click', async () => {
      try {
        const [page, next] = await fetchPage(nextToken);
        stores = stores.concat(page.filter((store) => !stores.some((known) => known.store_id === store.store_id)));
        nextToken = next;
        extended = true;
        draw();
        await readLoads();
        draw();
      } catch (error) {
        notify(error.message, 'error');
      }
    });

    return {
      clear,
      async refresh(force = false) {
        if (!extended || force) {
          try {
            [stores, nextToken] = await fetchPage(null);
          } catch (error) {
            if (error.status === 403) { adminOnly(true); return; }
            throw error;
          }
          extended = false;
        }
        adminOnly(false);
        draw();
        await readLoads();
        draw();
      },
    };
  })();

  // ---- overview (admin): charts as inline SVG ------------------------------------------

  const SVG_NS = 'http://www.w3.org/2000/svg';
  // Outcomes keep one colour each wherever they show; other series take the palette in order.
  const OUTCOME_COLOURS = { completed: '#1f7a3d', failed: '#b3261e', cancelled: '#6b7280', retried: '#c77700' };
  const PALETTE = ['#2456c9', '#c77700', '#7b3fb5', '#0f8b8d', '#b3261e', '#1f7a3d', '#6b7280', '#a0527a'];
  const CHART = { width: 460, height: 210, left: 48, right: 12, top: 12, bottom: 40 };

  function svg(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (name === 'dataset') for (const [k, v] of Object.entries(value)) el.setAttribute(`data-${k}`, String(v));
      else el.setAttribute(name, String(value));
    }
    for (const child of children.flat(Infinity)) if (child !== null && child !== undefined && child !== false) el.append(child);
    return el;
  }

  // A readable top of the y axis: 1, 2 or 5 times a power of ten, at least the largest value.
  function niceMax(value) {
    if (!(value > 0)) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    return [1, 2, 5, 10].map((m) => m * power).find((m) => m >= value);
  }

  function shortNumber(value) {
    if (value >= 1000) return `${+(value / 1000).toFixed(1)}k`;
    return String(+value.toFixed(2));
  }

  function timeLabel(iso, step) {
    const at = new Date(iso);
    return step >= 3600
      ? at.toLocaleString([], { weekday: 'short', hour: '2-digit', minute: '2-digit' })
      : at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  // series: [{ name, values (numbers or null), colour }]; a null is a gap (no data that minute).
  function lineChart({ id, title, unit, times, step, series }) {
    const { width, height, left, right, top, bottom } = CHART;
    const plotW = width - left - right;
    const plotH = height - top - bottom;
    const all = series.flatMap((s) => s.values).filter((v) => v !== null && v !== undefined);
    const max = niceMax(Math.max(0, ...all));
    const x = (i) => left + (times.length > 1 ? (i * plotW) / (times.length - 1) : plotW / 2);
    const y = (v) => top + plotH - (v / max) * plotH;
    const grid = [0, 0.5, 1].map((f) => [
      svg('line', { class: f === 0 ? 'axis' : 'grid-line', x1: left, x2: width - right, y1: y(max * f), y2: y(max * f) }),
      svg('text', { x: left - 6, y: y(max * f) + 4, 'text-anchor': 'end' }, shortNumber(max * f)),
    ]);
    const ticks = [0, Math.floor((times.length - 1) / 2), times.length - 1].filter((i, n, a) => a.indexOf(i) === n)
      .map((i) => svg('text', { x: x(i), y: top + plotH + 16, 'text-anchor': i === 0 ? 'start' : i === times.length - 1 ? 'end' : 'middle' },
        timeLabel(times[i], step)));
    const lines = series.map((s) => {
      const points = s.values.map((v, i) => (v === null || v === undefined ? null : [x(i), y(v)])).filter(Boolean);
      const count = points.length;
      const peak = Math.max(0, ...s.values.filter((v) => v !== null && v !== undefined));
      return svg('g', { class: 'series-group', dataset: { series: s.name, count, max: peak } },
        svg('title', {}, s.name),
        svg('polyline', { class: 'series', stroke: s.colour, points: points.map((p) => p.join(',')).join(' '), dataset: { series: s.name } }),
        points.map(([px, py]) => svg('circle', { class: 'dot', cx: px, cy: py, r: 3, fill: s.colour })));
    });
    const empty = all.length === 0
      ? svg('text', { class: 'no-data', x: left + plotW / 2, y: top + plotH / 2, 'text-anchor': 'middle' }, 'No data in this window yet')
      : null;
    const label = `${title}: ${series.map((s) => `${s.name} up to ${shortNumber(Math.max(0, ...s.values.filter((v) => v !== null)))}`).join(', ')} ${unit}`;
    const picture = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label, dataset: { points: times.length } },
      grid,
      svg('line', { class: 'axis', x1: left, x2: left, y1: top, y2: top + plotH }),
      ticks,
      svg('text', { x: left + plotW / 2, y: height - 4, 'text-anchor': 'middle' }, step >= 3600 ? 'hour (local time)' : 'minute (local time)'),
      svg('text', { x: 12, y: top + plotH / 2, 'text-anchor': 'middle', transform: `rotate(-90 12 ${top + plotH / 2})` }, unit),
      lines,
      empty);
    const legend = h('ul', { class: 'legend', 'aria-label': `${title}: legend` }, series.map((s) => h('li', { dataset: { series: s.name } },
      svg('svg', { viewBox: '0 0 12 12', 'aria-hidden': 'true' }, svg('rect', { width: 12, height: 12, rx: 2, fill: s.colour })), s.name)));
    return h('figure', { class: 'chart', dataset: { chart: id } }, h('figcaption', {}, title), picture, legend);
  }

  function overviewCharts(overview) {
    const { points, step_s: step, types } = overview;
    const times = points.map((p) => p.at);
    const per = step >= 3600 ? 'per hour' : 'per minute';
    const pick = (fn) => points.map(fn);
    const coloured = (names, fn) => names.map((name, i) => ({ name, colour: PALETTE[i % PALETTE.length], values: pick((p) => fn(p, name)) }));
    return [
      lineChart({ id: 'outcomes', title: `Jobs finished ${per}, by outcome`, unit: 'jobs', times, step,
        series: ['completed', 'failed', 'cancelled', 'retried'].map((name) => ({ name, colour: OUTCOME_COLOURS[name], values: pick((p) => p.outcomes[name]) })) }),
      lineChart({ id: 'wait', title: 'Wait before starting (start − due)', unit: 'seconds', times, step,
        series: [{ name: 'p50', colour: PALETTE[0], values: pick((p) => p.wait_p50_s) }, { name: 'p95', colour: PALETTE[1], values: pick((p) => p.wait_p95_s) }] }),
      lineChart({ id: 'run', title: 'Run time by job type (mean)', unit: 'seconds', times, step,
        series: coloured(types, (p, name) => (name in p.run_mean_s ? p.run_mean_s[name] : null)) }),
      lineChart({ id: 'failure-rate', title: 'Failure rate (failed of completed + failed)', unit: '%', times, step,
        series: [{ name: 'failure rate', colour: OUTCOME_COLOURS.failed, values: pick((p) => (p.failure_rate === null ? null : p.failure_rate * 100)) }] }),
      lineChart({ id: 'lateness', title: 'Cron lateness (fired − slot)', unit: 'seconds', times, step,
        series: [{ name: 'p50', colour: PALETTE[0], values: pick((p) => p.lateness_p50_s) }, { name: 'p95', colour: PALETTE[1], values: pick((p) => p.lateness_p95_s) }] }),
      lineChart({ id: 'queues', title: 'Queue depth per priority (waiting + in flight)', unit: 'messages', times, step,
        series: coloured(PRIORITIES, (p, name) => (name in p.queue_depth ? p.queue_depth[name] : null)) }),
    ];
  }

  views.overview = (() => {
    let windowName = 'hour';
    let readAt = 0;
    const buttons = [...document.querySelectorAll('[data-window]')];

    function adminOnly(refused) {
      $('#overview-admin-only').hidden = !refused;
      $('#charts').hidden = refused;
      $('#overview-note').hidden = refused;
      if (refused) $('#charts').replaceChildren();
    }

    async function read() {
      const { overview } = await api('GET', `admin/overview${query({ window: windowName })}`);
      readAt = Date.now();
      $('#charts').replaceChildren(...overviewCharts(overview));
      $('#charts').dataset.window = overview.window;
      $('#overview-depth-now').textContent = PRIORITIES
        .map((p) => `${p} ${(overview.queues[p]?.visible || 0) + (overview.queues[p]?.in_flight || 0)}`).join(' · ');
    }

    for (const button of buttons) {
      button.addEventListener('click', async () => {
        windowName = button.dataset.window;
        for (const other of buttons) other.setAttribute('aria-pressed', String(other === button));
        try { await read(); } catch (error) { notify(error.message, 'error'); }
      });
    }

    return {
      clear() {
        readAt = 0;
        $('#charts').replaceChildren();
      },
      async refresh(force = false) {
        if (!force && Date.now() - readAt < OVERVIEW_MS) return;
        try {
          await read();
        } catch (error) {
          if (error.status === 403) { adminOnly(true); return; }
          throw error;
        }
        adminOnly(false);
      },
    };
  })();

  function buildStoreRow(store) {
    const load = store.load;
    const oldest = load && load.oldest_waiting;
    const atLeast = load && load.exact === false ? '≥ ' : '';
    return h('tr', { dataset: { storeId: store.store_id, running: store.running, cap: store.effective_max_running, waiting: store.waiting } },
      cell('Store', h('span', { class: 'mono' }, store.store_id)),
      cell('Running', h('span', { 'aria-label': `${store.running} running of a cap of ${store.effective_max_running}` },
        `${store.running} / ${store.effective_max_running}`)),
      cell('Waiting', String(store.waiting)),
      cell('Backlog', load ? atLeast + String(load.backlog) : h('span', { class: 'muted' }, '…')),
      cell('Oldest waiting', oldest
        ? [h('span', { class: 'age', title: oldest.waiting_since }, relative(oldest.waiting_since).replace(/ ago$/, '')),
          ' ', jobLink(oldest)]
        : h('span', { class: 'muted' }, load && load.exact === false ? 'not found in the first pages' : '—')),
      cell('State', store.paused ? h('span', { class: 'badge s-paused' }, 'paused') : h('span', { class: 'badge s-active' }, 'active')));
  }

  // ---- cron jobs -----------------------------------------------------------------------

  function cronActions(cron, after) {
    const toggle = cron.is_active
      ? button('Pause', () => act(() => api('POST', `${cronPath(cron.id)}/pause`), `${cron.name} paused.`, after),
        { 'aria-label': `Pause ${cron.name}` })
      : button('Resume', () => act(() => api('POST', `${cronPath(cron.id)}/resume`), `${cron.name} resumed.`, after),
        { 'aria-label': `Resume ${cron.name}` });
    return [
      toggle,
      button('Run now', () => act(() => api('POST', `${cronPath(cron.id)}/run`), `${cron.name}: a run was queued.`, after),
        { 'aria-label': `Run ${cron.name} now` }),
      button('Edit', () => openEditor(cron), { class: 'small secondary', 'aria-label': `Edit ${cron.name}` }),
    ];
  }

  function schedule(cron) {
    return [h('span', { class: 'mono' }, cron.cron_expression), h('br'),
      h('small', {}, (cron.schedule_description || '').includes(cron.timezone)
        ? cron.schedule_description : `${cron.schedule_description || ''} (${cron.timezone})`)];
  }

  views.crons = pagedList({
    tbody: $('#crons-table tbody'),
    empty: $('#crons-empty'),
    more: $('#crons-more'),
    key: 'jobs',
    path: (from) => `cron-jobs${query({ limit: String(PAGE_SIZE), next_token: from })}`,
    build: (cron) => h('tr', { dataset: { cronId: cron.id, active: String(cron.is_active) } },
      cell('Name', h('button', { type: 'button', class: 'link', onclick: () => openCron(cron.id),
        'aria-label': `Open cron job ${cron.name}` }, cron.name),
      cron.description ? [h('br'), h('small', {}, cron.description)] : null),
      cell('Schedule', schedule(cron)),
      cell('Next run', cron.is_active ? [when(cron.next_run_at), h('br'), h('small', {}, relative(cron.next_run_at))]
        : h('span', { class: 'muted' }, 'paused')),
      cell('Last run', cron.last_status ? badge(cron.last_status) : h('span', { class: 'muted' }, 'never'),
        cron.last_run_at ? [' ', h('small', {}, relative(cron.last_run_at))] : null,
        cron.last_error ? [h('br'), h('small', { class: 'error' }, cron.last_error)] : null),
      cell('Runs', `${cron.success_count} ok · ${cron.failure_count} failed`),
      cell('State', h('span', { class: cron.is_active ? 'badge s-active' : 'badge s-paused' },
        cron.is_active ? 'active' : 'paused'),
      cron.paused_reason ? [h('br'), h('small', {}, cron.paused_reason)] : null),
      cell('Actions', h('div', { class: 'actions' }, cronActions(cron)))),
  });

  // ---- cron detail and history ---------------------------------------------------------

  let openCronId = null;
  let cronTimer = null;

  async function loadCron(id) {
    try {
      const [{ job: cron }, { executions }] = await Promise.all([
        api('GET', cronPath(id)), api('GET', `${cronPath(id)}/executions${query({ limit: '20' })}`)]);
      if (openCronId !== id) return;
      let nextRuns = [];
      try {
        const preview = await api('POST', 'cron-jobs/preview',
          { cron_expression: cron.cron_expression, timezone: cron.timezone, count: 5 });
        nextRuns = preview.next_runs || [];
      } catch (_) { nextRuns = []; }
      renderCron(cron, executions || [], nextRuns);
      clearTimeout(cronTimer);
      cronTimer = setTimeout(() => loadCron(id), LIST_POLL_MS * 2);
    } catch (error) {
      if (openCronId === id) $('#cron-dialog-body').replaceChildren(h('p', { class: 'error', role: 'alert' }, error.message));
    }
  }

  function renderCron(cron, executions, nextRuns) {
    $('#cron-dialog-title').textContent = cron.name;
    fill($('#cron-dialog-body'), [
      cron.description ? h('p', {}, cron.description) : [],
      h('div', { class: 'actions' }, cronActions(cron, () => loadCron(cron.id))),
      h('dl', { class: 'facts' },
        field('Schedule', schedule(cron)),
        field('State', cron.is_active ? 'active' : `paused${cron.paused_reason ? ` (${cron.paused_reason})` : ''}`),
        field('Job type', h('span', { class: 'mono' }, cron.job_type)),
        field('Store', cron.store_id),
        field('Plugin', cron.plugin_id || '—'),
        field('Priority', cron.priority),
        field('Runs', `${cron.run_count} (${cron.success_count} ok, ${cron.failure_count} failed, ${cron.skipped_count} skipped)`),
        field('Last status', cron.last_status || 'never run'),
        cron.last_error ? field('Last error', h('span', { class: 'error' }, cron.last_error)) : []),
      h('h3', {}, 'Next runs'),
      cron.is_active
        ? h('ol', { class: 'runs' }, nextRuns.map((t) => h('li', {}, when(t), ' ', h('small', {}, relative(t)))))
        : h('p', { class: 'muted' }, 'Paused: it fires again when resumed (missed slots follow its misfire policy).'),
      h('h3', {}, 'Configuration'), pretty(cron.configuration || {}),
      h('h3', {}, 'Execution history'),
      executions.length
        ? h('table', { class: 'grid compact', id: 'executions-table' },
          h('caption', { class: 'sr-only' }, 'Runs of this cron job, newest first'),
          h('thead', {}, h('tr', {}, ['Job', 'Status', 'Progress', 'Started', 'Finished', 'Actions']
            .map((label) => h('th', { scope: 'col' }, label)))),
          h('tbody', {}, executions.map((job) => h('tr', { dataset: { jobId: job.id } },
            cell('Job', jobLink(job)), cell('Status', badge(job.status), job.error ? [h('br'), h('small', { class: 'error' }, job.error)] : null),
            cell('Progress', progressBar(job)), cell('Started', when(job.started_at || job.scheduled_at)),
            cell('Finished', when(job.completed_at)),
            cell('Actions', h('div', { class: 'actions' }, jobActions(job, () => loadCron(cron.id))))))))
        : h('p', { class: 'muted' }, 'No runs yet.')]);
  }

  function openCron(id) {
    openCronId = id;
    $('#cron-dialog-body').replaceChildren(h('p', { class: 'muted' }, 'Loading…'));
    const dialog = $('#cron-dialog');
    if (!dialog.open) dialog.showModal();
    loadCron(id);
  }

  $('#cron-dialog').addEventListener('close', () => { openCronId = null; clearTimeout(cronTimer); });

  // ---- cron editor with live preview ---------------------------------------------------

  let editingId = null;
  let previewTimer = null;
  let previewSeq = 0;
  const form = $('#cron-form');

  function clearFieldErrors() {
    $('#cron-form-error').textContent = '';
    for (const span of form.querySelectorAll('[data-error-for]')) span.textContent = '';
    for (const input of form.querySelectorAll('[aria-invalid]')) input.removeAttribute('aria-invalid');
  }

  function showFieldError(name, message) {
    const top = String(name || '').split('.')[0];
    const span = form.querySelector(`[data-error-for="${CSS.escape(top)}"]`);
    if (!span) return false;
    span.textContent = span.textContent ? `${span.textContent} ${message}` : message;
    const input = form.elements[top];
    if (input && input.setAttribute) input.setAttribute('aria-invalid', 'true');
    return true;
  }

  function openEditor(cron) {
    editingId = cron ? cron.id : null;
    form.reset();
    clearFieldErrors();
    $('#editor-title').textContent = cron ? `Edit ${cron.name}` : 'New cron job';
    const values = cron || {};
    const set = (name, value) => { if (value !== undefined && value !== null) form.elements[name].value = String(value); };
    set('name', values.name);
    set('description', values.description);
    set('cron_expression', values.cron_expression);
    set('timezone', values.timezone || 'UTC');
    set('job_type', values.job_type);
    set('store_id', values.store_id);
    set('plugin_id', values.plugin_id);
    set('priority', values.priority || 'normal');
    set('max_retries', values.max_retries ?? 3);
    set('timeout_seconds', values.timeout_seconds);
    set('misfire_policy', values.misfire_policy || 'run_once');
    set('overlap_policy', values.overlap_policy || 'skip');
    form.elements.configuration.value = JSON.stringify(values.configuration || {}, null, 2);
    form.elements.is_active.checked = cron ? Boolean(cron.is_active) : true;
    $('#cron-preview').replaceChildren();
    $('#editor-dialog').showModal();
    schedulePreview();
    form.elements.name.focus();
  }

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(runPreview, PREVIEW_DELAY_MS);
  }

  async function runPreview() {
    const expression = form.elements.cron_expression.value.trim();
    const timezone = form.elements.timezone.value.trim() || 'UTC';
    const box = $('#cron-preview');
    const seq = ++previewSeq;
    if (!expression) {
      box.replaceChildren(h('p', { class: 'muted' }, 'Type an expression to see its next runs.'));
      return;
    }
    try {
      const preview = await api('POST', 'cron-jobs/preview', { cron_expression: expression, timezone, count: 5 });
      if (seq !== previewSeq) return;  // an older answer arriving after a newer one
      box.dataset.valid = 'true';
      box.replaceChildren(
        h('p', { class: 'description' }, preview.description),
        h('ol', { class: 'runs', 'aria-label': 'Next runs' }, (preview.next_runs || []).map((t) => h('li', {},
          h('span', { class: 'mono' }, new Date(t).toLocaleString(undefined, { timeZone: timezone, timeZoneName: 'short' })),
          ' ', h('small', {}, `(${relative(t)}, your time ${new Date(t).toLocaleString()})`)))));
    } catch (error) {
      if (seq !== previewSeq) return;
      box.dataset.valid = 'false';
      box.replaceChildren(h('p', { class: 'error', role: 'alert' }, error.message));
    }
  }

  // Each field's error message is part of its accessible description.
  for (const span of form.querySelectorAll('[data-error-for]')) {
    const input = form.elements[span.dataset.errorFor];
    span.id = `cron-error-${span.dataset.errorFor}`;
    if (input && input.setAttribute) {
      const described = input.getAttribute('aria-describedby');
      input.setAttribute('aria-describedby', described ? `${described} ${span.id}` : span.id);
    }
  }

  form.elements.cron_expression.addEventListener('input', schedulePreview);
  form.elements.timezone.addEventListener('input', schedulePreview);

  function formBody() {
    const value = (name) => form.elements[name].value.trim();
    const body = {
      name: value('name'),
      description: value('description'),
      cron_expression: value('cron_expression'),
      timezone: value('timezone') || 'UTC',
      job_type: value('job_type'),
      store_id: value('store_id'),
      priority: value('priority'),
      misfire_policy: value('misfire_policy'),
      overlap_policy: value('overlap_policy'),
      is_active: form.elements.is_active.checked,
    };
    if (value('plugin_id')) body.plugin_id = value('plugin_id');
    if (value('max_retries') !== '') body.max_retries = Number(value('max_retries'));
    if (value('timeout_seconds') !== '') body.timeout_seconds = Number(value('timeout_seconds'));
    const text = value('configuration') || '{}';
    try {
      body.configuration = JSON.parse(text);
    } catch (error) {
      throw new ApiError('Configuration is not valid JSON.', 'validation_error', 400,
        [{ field: 'configuration', message: `not valid JSON (${error.message})` }]);
    }
    if (body.configuration === null || typeof body.configuration !== 'object' || Array.isArray(body.configuration)) {
      throw new ApiError('Configuration must be a JSON object.', 'validation_error', 400,
        [{ field: 'configuration', message: 'must be a JSON object, e.g. {"url": "/api/..."}' }]);
    }
    return body;
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearFieldErrors();
    const save = $('#cron-save');
    save.disabled = true;
    try {
      const body = formBody();
      const { job } = editingId ? await api('PATCH', cronPath(editingId), body) : await api('POST', 'cron-jobs', body);
      $('#editor-dialog').close();
      notify(`${job.name} saved; next run ${job.next_run_at ? new Date(job.next_run_at).toLocaleString() : 'when resumed'}.`, 'ok');
      await views.crons.refresh(true);
    } catch (error) {
      $('#cron-form-error').textContent = error.message;
      for (const detail of error.details) showFieldError(detail.field, detail.message);
      // Take the user to the first field at fault (its message is read with it).
      const first = form.querySelector('[aria-invalid="true"]');
      if (first) first.focus();
    } finally {
      save.disabled = false;
    }
  });

  $('#cron-new').addEventListener('click', () => openEditor(null));

  // ---- wiring --------------------------------------------------------------------------

  for (const closer of document.querySelectorAll('[data-close]')) {
    closer.addEventListener('click', () => closer.closest('dialog').close());
  }
  $('#token-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const value = $('#token-input').value.trim().replace(/^Bearer\s+/i, '');
    if (!value) {
      $('#token-error').textContent = 'Paste a token first.';
      return;
    }
    $('#token-input').value = '';
    await signIn(value);
  });
  $('#forget-token').addEventListener('click', () => signedOut('Token forgotten.'));
  window.addEventListener('hashchange', () => { if (token()) show(currentTab()); });
  document.addEventListener('visibilitychange', () => { if (!document.hidden && token()) refreshCurrent(); });

  fillTimezones();
  if (token()) signIn(token()); else signedOut('');
})();
