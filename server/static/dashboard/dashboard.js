// The salescope dashboard: a plain client of /graphql. Queries and mutations are
// JSON POSTs, the upload follows the GraphQL multipart request spec, and job
// progress arrives over graphql-transport-ws (polling analysisJob as a fallback).

const KEY_STORAGE = 'salescope.apiKey';
const GRAPHQL_URL = '/graphql';
const POLL_INTERVAL_MS = 1000;
const WS_ACK_TIMEOUT_MS = 5000;

const DATASETS_QUERY = `query Datasets { datasets { id name kind rowsImported } }`;
const KPIS_QUERY = `query Kpis($dataset: ID) {
  kpis(dataset: $dataset) {
    asOf period { start end } totalCustomers totalRevenue totalLifetimeValue orderCount
    averageOrderValue retentionRate activeCustomers averageLifetimeValue
  }
}`;
const REVENUE_QUERY = `query Revenue($dataset: ID, $granularity: Granularity!, $groupBy: RevenueGroupBy) {
  revenueSeries(dataset: $dataset, granularity: $granularity, groupBy: $groupBy) { totalRevenue figure }
}`;
const CATEGORIES_QUERY = `query Categories($dataset: ID) { categoryPerformanceFigure(dataset: $dataset) }`;
const TOP_CUSTOMERS_QUERY = `query TopCustomers($dataset: ID) {
  topCustomers(dataset: $dataset, limit: 10) { customerId name lifetimeValue orderCount }
}`;
const RFM_QUERY = `query Rfm($dataset: ID) { rfm(dataset: $dataset) { asOf customerCount segmentFigure } }`;
const FORECAST_QUERY = `query Forecast($dataset: ID) {
  salesForecast(dataset: $dataset, horizon: 6, granularity: MONTH) {
    method intervalLevel backtest { mape beatsBaseline } figure
  }
}`;
const CHURN_QUERY = `query Churn($dataset: ID) {
  churnRisk(dataset: $dataset) {
    asOf horizonDays currentChurnRate averageChurnProbability totalChurners scoredCustomers
    riskDistribution { level customers } model { algorithm auc }
    distributionFigure factorsFigure
  }
}`;
const ASK_MUTATION = `mutation Ask($question: String!, $dataset: ID, $conversationId: ID) {
  askAI(question: $question, dataset: $dataset, conversationId: $conversationId) {
    answer dataset provider model toolCalls { name arguments cached } figure latencyMs costUsd
    conversationId fallback confident suggestions
  }
}`;
const UPLOAD_MUTATION = `mutation Upload($file: Upload!) {
  uploadDataset(file: $file) { fileId job { ...JobFields } }
}
fragment JobFields on AnalysisJob { id dataset status progress stage error result }`;
const JOB_QUERY = `query Job($id: ID!) {
  analysisJob(id: $id) { id dataset status progress stage error result }
}`;
const PROGRESS_SUBSCRIPTION = `subscription Progress($jobId: ID!) {
  analysisProgress(jobId: $jobId) { id dataset status progress stage error result }
}`;

// ---------------------------------------------------------------------------
// Formatting. en-US digits and grouping, rounded half away from zero (Intl's
// default): the browser test formats the kpis query's numbers the same way.

const moneyFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const countFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const percentFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const MISSING = '—';

const formatMoney = (value) => (value == null ? MISSING : moneyFormat.format(value));
const formatCount = (value) => (value == null ? MISSING : countFormat.format(value));
const formatPercent = (value) => (value == null ? MISSING : `${percentFormat.format(value)}%`);

// ---------------------------------------------------------------------------
// Talking to /graphql

class RequestError extends Error {
  constructor(message, { code = null, status = null, requestId = null } = {}) {
    super(message);
    this.code = code;
    this.status = status;
    this.requestId = requestId;
  }
}

class AuthRequired extends RequestError {}

const apiKey = () => sessionStorage.getItem(KEY_STORAGE);

function authHeaders() {
  const key = apiKey();
  return key ? { 'X-API-Key': key } : {};
}

async function readResponse(pending) {
  let response;
  try {
    response = await pending;
  } catch (error) {
    throw new RequestError(`the server could not be reached (${error.message})`, { code: 'NETWORK' });
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null; // A proxy's HTML error page: reported below with the status.
  }
  const errors = Array.isArray(body?.errors) ? body.errors : [];
  const first = errors[0];
  const code = first?.extensions?.code ?? null;
  // Present on masked internal errors: what an operator needs to find the log lines.
  const requestId = first?.extensions?.requestId ?? null;
  if (response.status === 401 || code === 'UNAUTHENTICATED') {
    const message = first?.message ?? body?.detail ?? 'authentication required';
    throw new AuthRequired(message, { code: 'UNAUTHENTICATED', status: 401, requestId });
  }
  if (response.status === 429) {
    const wait = response.headers.get('Retry-After');
    throw new RequestError(`too many requests: try again in ${wait ?? 'a few'} s`, {
      code: 'RATE_LIMITED', status: 429, requestId,
    });
  }
  if (errors.length) {
    const message = errors.map((error) => error.message).join('; ');
    throw new RequestError(message, { code, status: response.status, requestId });
  }
  if (!response.ok || body?.data == null) {
    const detail = body?.detail ?? `HTTP ${response.status} ${response.statusText}`.trim();
    throw new RequestError(detail, { status: response.status, requestId });
  }
  return body.data;
}

function gql(query, variables = {}) {
  return readResponse(fetch(GRAPHQL_URL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...authHeaders() },
    body: JSON.stringify({ query, variables }),
  }));
}

function uploadFile(file) {
  // GraphQL multipart request spec: operations, map, then the file parts.
  const form = new FormData();
  form.append('operations', JSON.stringify({ query: UPLOAD_MUTATION, variables: { file: null } }));
  form.append('map', JSON.stringify({ 0: ['variables.file'] }));
  form.append('0', file, file.name);
  return readResponse(fetch(GRAPHQL_URL, {
    method: 'POST',
    // The CSRF guard refuses multipart posts a cross-site form could make.
    headers: { 'X-Requested-With': 'salescope', Accept: 'application/json', ...authHeaders() },
    body: form,
  }));
}

const jobEnded = (job) => job.status === 'COMPLETED' || job.status === 'FAILED';
const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

// Resolves with the job once it has ended; onUpdate sees every state on the way.
function followJob(jobId, onUpdate, onTransport) {
  return new Promise((resolve, reject) => {
    let settled = false;
    let polling = false;
    let last = null;
    let socket = null;
    let ackTimer = null;

    const closeSocket = () => {
      clearTimeout(ackTimer);
      if (socket && socket.readyState <= WebSocket.OPEN) socket.close(1000);
    };
    const finish = (job) => {
      if (settled) return;
      settled = true;
      closeSocket();
      resolve(job);
    };
    const fail = (error) => {
      if (settled) return;
      settled = true;
      closeSocket();
      reject(error);
    };
    const update = (job) => {
      last = job;
      onUpdate(job);
      if (jobEnded(job)) finish(job);
    };
    const poll = async () => {
      if (polling || settled) return;
      polling = true;
      closeSocket();
      onTransport('polling');
      while (!settled) {
        try {
          update((await gql(JOB_QUERY, { id: jobId })).analysisJob);
        } catch (error) {
          fail(error);
          return;
        }
        if (!settled) await sleep(POLL_INTERVAL_MS);
      }
    };

    const url = new URL(GRAPHQL_URL, window.location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    try {
      socket = new WebSocket(url, 'graphql-transport-ws');
    } catch {
      poll();
      return;
    }
    const send = (message) => socket.send(JSON.stringify(message));
    ackTimer = setTimeout(poll, WS_ACK_TIMEOUT_MS);
    socket.addEventListener('open', () => {
      // Browsers cannot set headers on a WebSocket: the key travels in connection_init.
      const key = apiKey();
      send({ type: 'connection_init', payload: key ? { apiKey: key } : {} });
    });
    socket.addEventListener('message', (event) => {
      if (settled || polling) return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        poll();
        return;
      }
      switch (message.type) {
        case 'connection_ack':
          clearTimeout(ackTimer);
          onTransport('websocket');
          send({ id: '1', type: 'subscribe', payload: { query: PROGRESS_SUBSCRIPTION, variables: { jobId } } });
          break;
        case 'ping':
          send({ type: 'pong' });
          break;
        case 'next': {
          const errors = message.payload?.errors ?? [];
          if (errors.length) {
            fail(new RequestError(errors.map((error) => error.message).join('; '), {
              code: errors[0]?.extensions?.code ?? null,
            }));
          } else {
            update(message.payload.data.analysisProgress);
          }
          break;
        }
        case 'error': {
          const errors = Array.isArray(message.payload) ? message.payload : [];
          const text = errors.map((error) => error.message).join('; ') || 'the subscription failed';
          const code = errors[0]?.extensions?.code ?? null;
          fail(code === 'UNAUTHENTICATED' ? new AuthRequired(text, { code }) : new RequestError(text, { code }));
          break;
        }
        case 'complete':
          // The stream ended without a final state: read it.
          if (!last || !jobEnded(last)) poll();
          break;
        default:
          break;
      }
    });
    socket.addEventListener('error', () => { poll(); });
    socket.addEventListener('close', () => { if (!settled) poll(); });
  });
}

// ---------------------------------------------------------------------------
// Messages: every failure is shown, keyed by where it happened so a retry replaces it.

const $ = (id) => document.getElementById(id);
const messageArea = $('messages');
const messages = new Map();

function describe(error) {
  const parts = [error?.message || String(error)];
  if (error?.code) parts.push(`(${error.code})`);
  if (error?.requestId) parts.push(`request ${error.requestId}`);
  return parts.join(' ');
}

function showMessage(where, text, kind = 'error') {
  clearMessage(where);
  const item = document.createElement('div');
  item.className = `message ${kind}`;
  item.dataset.testid = kind === 'error' ? 'error-message' : 'info-message';
  const label = document.createElement('strong');
  label.textContent = `${where}: `;
  const body = document.createElement('span');
  body.textContent = text;
  const dismiss = document.createElement('button');
  dismiss.type = 'button';
  dismiss.className = 'dismiss';
  dismiss.setAttribute('aria-label', `Dismiss the message about ${where}`);
  dismiss.textContent = '×';
  dismiss.addEventListener('click', () => clearMessage(where));
  item.append(label, body, dismiss);
  messageArea.append(item);
  messages.set(where, item);
}

function clearMessage(where) {
  messages.get(where)?.remove();
  messages.delete(where);
}

function reportError(where, error) {
  if (error instanceof AuthRequired) {
    requireKey(error.message);
    return;
  }
  showMessage(where, describe(error));
}

window.addEventListener('unhandledrejection', (event) => reportError('Unexpected error', event.reason));
window.addEventListener('error', (event) => reportError('Unexpected error', event.error ?? event.message));

// ---------------------------------------------------------------------------
// Authentication: a key typed once per tab, sent as X-API-Key.

const authPanel = $('auth-panel');
const keyInput = $('api-key-input');
const keyButton = $('key-button');

function requireKey(reason) {
  const stored = apiKey();
  $('auth-reason').textContent = stored
    ? `The server refused the key: ${reason}.`
    : 'Ask an administrator for a key (salescope keys create). It is kept for this browser tab only.';
  authPanel.hidden = false;
  if (document.activeElement !== keyInput) keyInput.focus();
}

function refreshKeyButton() {
  keyButton.hidden = !apiKey();
}

$('auth-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const key = keyInput.value.trim();
  if (!key) return;
  sessionStorage.setItem(KEY_STORAGE, key);
  keyInput.value = '';
  authPanel.hidden = true;
  refreshKeyButton();
  start();
});

$('forget-key').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  keyInput.value = '';
  refreshKeyButton();
});

keyButton.addEventListener('click', () => {
  authPanel.hidden = !authPanel.hidden;
  if (!authPanel.hidden) keyInput.focus();
});

// ---------------------------------------------------------------------------
// Charts

const FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

function plot(element, figure) {
  if (typeof window.Plotly === 'undefined') {
    throw new RequestError('the chart library (/static/plotly.min.js) did not load');
  }
  // Plotly draws markers on a filled band (an interval) unless told otherwise.
  const data = (figure?.data ?? []).map((trace) => (trace.fill && !trace.mode ? { ...trace, mode: 'lines' } : trace));
  const layout = { ...(figure?.layout ?? {}) };
  // The panel's heading names the chart; sizes follow the container.
  delete layout.title;
  delete layout.width;
  delete layout.height;
  Object.assign(layout, {
    autosize: true,
    margin: { l: 56, r: 16, t: 12, b: 48 },
    paper_bgcolor: 'rgba(0,0,0,0)',
    font: { family: FONT, size: 12, color: '#334155' },
    legend: { orientation: 'h', y: -0.18, ...(layout.legend ?? {}) },
  });
  return window.Plotly.newPlot(element, data, layout, { responsive: true, displaylogo: false });
}

function clearChart(element) {
  if (window.Plotly) window.Plotly.purge(element);
  element.replaceChildren();
}

// ---------------------------------------------------------------------------
// Panels: each loads on its own, so one that cannot be computed (e.g. a forecast
// on too short a history) says why without taking the others down.

const state = { dataset: null, datasets: [], conversationId: null };
// The latest request of each panel: an older answer arriving late is dropped.
const latestRequest = new Map();

function panelError(panel, error) {
  let note = panel.querySelector('.panel-error');
  if (!note) {
    note = document.createElement('p');
    note.className = 'panel-error';
    note.dataset.testid = 'panel-error';
    panel.querySelector('.panel-head').after(note);
  }
  note.textContent = describe(error);
}

// Nothing of another dataset may stay on screen next to an error.
function resetPanel(panel) {
  panel.classList.add('failed');
  panel.querySelectorAll('.chart').forEach(clearChart);
  panel.querySelectorAll('[data-reset]').forEach((element) => element.replaceChildren());
  panel.querySelectorAll('.kpi-value').forEach((element) => { element.textContent = MISSING; });
}

async function runPanel(panelId, where, load, render) {
  const panel = $(panelId);
  const request = (latestRequest.get(panelId) ?? 0) + 1;
  latestRequest.set(panelId, request);
  const current = () => latestRequest.get(panelId) === request;
  panel.setAttribute('aria-busy', 'true');
  try {
    const data = await load();
    if (!current()) return;
    panel.querySelector('.panel-error')?.remove();
    panel.classList.remove('failed');
    await render(data);
    clearMessage(where);
  } catch (error) {
    if (!current()) return;
    resetPanel(panel);
    if (!(error instanceof AuthRequired)) panelError(panel, error);
    reportError(where, error);
  } finally {
    if (current()) panel.removeAttribute('aria-busy');
  }
}

function setKpi(name, value, note = '') {
  const tile = document.querySelector(`[data-testid="kpi-${name}"]`);
  tile.querySelector('.kpi-value').textContent = value;
  tile.querySelector('.kpi-note').textContent = note;
}

function renderKpis({ kpis }) {
  $('kpi-period').textContent = `as of ${kpis.asOf} · window ${kpis.period.start} – ${kpis.period.end}`;
  setKpi('customers', formatCount(kpis.totalCustomers), `${formatCount(kpis.activeCustomers)} active in the window`);
  setKpi('revenue', formatMoney(kpis.totalRevenue), `all time · ${formatCount(kpis.orderCount)} orders`);
  setKpi('lifetime-value', formatMoney(kpis.averageLifetimeValue), 'average per customer');
  setKpi('aov', formatMoney(kpis.averageOrderValue), 'revenue / orders');
  setKpi('retention', formatPercent(kpis.retentionRate), 'customers who came back');
}

function loadKpis() {
  return runPanel('kpi-panel', 'Key figures', () => gql(KPIS_QUERY, { dataset: state.dataset }), renderKpis);
}

function loadRevenue() {
  const groupBy = $('group-select').value || null;
  const granularity = $('granularity-select').value;
  return runPanel(
    'revenue-panel',
    'Revenue over time',
    () => gql(REVENUE_QUERY, { dataset: state.dataset, granularity, groupBy }),
    (data) => plot($('chart-revenue'), data.revenueSeries.figure),
  );
}

function loadCategories() {
  return runPanel(
    'category-panel',
    'Category performance',
    () => gql(CATEGORIES_QUERY, { dataset: state.dataset }),
    (data) => plot($('chart-categories'), data.categoryPerformanceFigure),
  );
}

function renderTopCustomers({ topCustomers }) {
  const rows = topCustomers.map((customer, index) => {
    const row = document.createElement('tr');
    const cells = [
      String(index + 1),
      null,
      formatMoney(customer.lifetimeValue),
      formatCount(customer.orderCount),
    ];
    cells.forEach((text, column) => {
      const cell = document.createElement('td');
      if (column === 1) {
        const name = document.createElement('span');
        name.textContent = customer.name ?? customer.customerId;
        const id = document.createElement('span');
        id.className = 'muted small id';
        id.textContent = customer.name ? customer.customerId : '';
        cell.append(name, id);
      } else {
        cell.textContent = text;
      }
      if (column >= 2) cell.className = 'num';
      row.append(cell);
    });
    return row;
  });
  if (!rows.length) {
    const row = document.createElement('tr');
    const cell = document.createElement('td');
    cell.colSpan = 4;
    cell.className = 'muted';
    cell.textContent = 'No customers with orders yet.';
    row.append(cell);
    rows.push(row);
  }
  $('top-customers').tBodies[0].replaceChildren(...rows);
}

function loadTopCustomers() {
  return runPanel(
    'customers-panel',
    'Top customers',
    () => gql(TOP_CUSTOMERS_QUERY, { dataset: state.dataset }),
    renderTopCustomers,
  );
}

function loadRfm() {
  return runPanel(
    'rfm-panel',
    'RFM segments',
    () => gql(RFM_QUERY, { dataset: state.dataset }),
    ({ rfm }) => {
      $('rfm-note').textContent = `${formatCount(rfm.customerCount)} customers as of ${rfm.asOf}`;
      return plot($('chart-rfm'), rfm.segmentFigure);
    },
  );
}

function loadForecast() {
  return runPanel(
    'forecast-panel',
    'Revenue forecast',
    () => gql(FORECAST_QUERY, { dataset: state.dataset }),
    ({ salesForecast }) => {
      const interval = `${Math.round(salesForecast.intervalLevel * 100)}% interval`;
      const mape = salesForecast.backtest?.mape;
      const backtest = mape == null ? '' : ` · backtest MAPE ${percentFormat.format(mape)}%`;
      $('forecast-note').textContent = `${salesForecast.method} · ${interval}${backtest}`;
      return plot($('chart-forecast'), salesForecast.figure);
    },
  );
}

function renderChurn({ churnRisk }) {
  const high = churnRisk.riskDistribution.find((bucket) => bucket.level === 'HIGH')?.customers ?? 0;
  const auc = churnRisk.model.auc == null ? '' : `, AUC ${churnRisk.model.auc.toFixed(2)}`;
  $('churn-note').textContent = `${churnRisk.model.algorithm}${auc} · ${churnRisk.horizonDays} days without an order`;
  const stats = [
    ['Current churn rate', formatPercent(churnRisk.currentChurnRate)],
    ['Average churn probability', formatPercent(churnRisk.averageChurnProbability * 100)],
    ['High-risk customers', `${formatCount(high)} of ${formatCount(churnRisk.scoredCustomers)}`],
    ['Churned since the cutoff', formatCount(churnRisk.totalChurners)],
  ];
  $('churn-stats').replaceChildren(...stats.map(([term, value]) => {
    const wrap = document.createElement('div');
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    wrap.append(dt, dd);
    return wrap;
  }));
  return Promise.all([
    plot($('chart-churn-distribution'), churnRisk.distributionFigure),
    plot($('chart-churn-factors'), churnRisk.factorsFigure),
  ]);
}

function loadChurn() {
  return runPanel('churn-panel', 'Churn risk', () => gql(CHURN_QUERY, { dataset: state.dataset }), renderChurn);
}

function loadPanels() {
  return Promise.all([
    loadKpis(), loadRevenue(), loadCategories(), loadTopCustomers(), loadRfm(), loadForecast(), loadChurn(),
  ]);
}

// ---------------------------------------------------------------------------
// Datasets

const datasetSelect = $('dataset-select');

function datasetLabel(dataset, all) {
  const twins = all.filter((other) => other.name === dataset.name).length > 1;
  const rows = `${formatCount(dataset.rowsImported)} rows`;
  return twins ? `${dataset.name} (${dataset.id.slice(0, 8)}) · ${rows}` : `${dataset.name} · ${rows}`;
}

async function loadDatasets(preferred) {
  const { datasets } = await gql(DATASETS_QUERY);
  state.datasets = datasets;
  const ids = datasets.map((dataset) => dataset.id);
  const chosen = [preferred, state.dataset, 'demo'].find((id) => id && ids.includes(id)) ?? ids[0] ?? null;
  datasetSelect.replaceChildren(...datasets.map((dataset) => {
    const option = document.createElement('option');
    option.value = dataset.id;
    option.textContent = datasetLabel(dataset, datasets);
    return option;
  }));
  datasetSelect.disabled = !datasets.length;
  if (!datasets.length) {
    const option = document.createElement('option');
    option.textContent = 'No datasets yet';
    datasetSelect.append(option);
    showMessage('Datasets', 'there is no data yet: upload a CSV or Excel file below.', 'info');
  } else {
    clearMessage('Datasets');
    datasetSelect.value = chosen;
  }
  return chosen;
}

function selectDataset(id) {
  state.dataset = id;
  state.conversationId = null;
  const url = new URL(window.location.href);
  url.searchParams.set('dataset', id);
  window.history.replaceState(null, '', url);
  return loadPanels();
}

datasetSelect.addEventListener('change', () => selectDataset(datasetSelect.value));
$('granularity-select').addEventListener('change', loadRevenue);
$('group-select').addEventListener('change', loadRevenue);
$('refresh-button').addEventListener('click', () => start());

async function start() {
  refreshKeyButton();
  const preferred = new URL(window.location.href).searchParams.get('dataset');
  let chosen;
  try {
    chosen = await loadDatasets(preferred ?? state.dataset);
  } catch (error) {
    reportError('Datasets', error);
    return;
  }
  authPanel.hidden = true;
  if (chosen) await selectDataset(chosen);
}

// ---------------------------------------------------------------------------
// Ask a question

const askForm = $('ask-form');
const askInput = $('ask-input');
const askButton = $('ask-submit');

function renderAnswer(payload) {
  state.conversationId = payload.conversationId;
  $('ask-result').hidden = false;
  $('ask-answer').textContent = payload.answer;
  const meta = [`answered by ${payload.provider}${payload.model ? ` (${payload.model})` : ''}`];
  meta.push(`${formatCount(payload.latencyMs)} ms`);
  if (payload.costUsd) meta.push(`$${payload.costUsd.toFixed(4)}`);
  if (!payload.confident) meta.push('matched loosely: check the tool below');
  if (payload.fallback) meta.push(`fallback: ${payload.fallback}`);
  $('ask-meta').textContent = meta.join(' · ');

  $('ask-tools').replaceChildren(...payload.toolCalls.map((call) => {
    const item = document.createElement('li');
    item.dataset.testid = 'ask-tool';
    const name = document.createElement('code');
    name.className = 'tool-name';
    name.textContent = call.name;
    const args = document.createElement('code');
    args.className = 'tool-args';
    args.textContent = JSON.stringify(call.arguments);
    item.append(name, args);
    if (call.cached) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'cached';
      item.append(badge);
    }
    return item;
  }));
  if (!payload.toolCalls.length) {
    const item = document.createElement('li');
    item.className = 'muted';
    item.textContent = 'No tool was needed.';
    $('ask-tools').append(item);
  }

  const figure = $('ask-figure');
  if (payload.figure?.data?.length) {
    figure.hidden = false;
    figure.dataset.chart = 'ask';
    plot(figure, payload.figure);
  } else {
    clearChart(figure);
    figure.hidden = true;
    delete figure.dataset.chart;
  }
  renderSuggestions(payload.suggestions);
}

function renderSuggestions(suggestions) {
  $('ask-suggestions').replaceChildren(...suggestions.slice(0, 6).map((text) => {
    const chip = document.createElement('button');
    chip.type = 'button';
    chip.className = 'chip';
    chip.textContent = text;
    chip.addEventListener('click', () => {
      askInput.value = text;
      askForm.requestSubmit();
    });
    return chip;
  }));
}

askForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const question = askInput.value.trim();
  if (!question) return;
  askButton.disabled = true;
  askButton.textContent = 'Asking…';
  $('ask-panel').setAttribute('aria-busy', 'true');
  try {
    const { askAI } = await gql(ASK_MUTATION, {
      question, dataset: state.dataset, conversationId: state.conversationId,
    });
    clearMessage('Ask a question');
    renderAnswer(askAI);
  } catch (error) {
    reportError('Ask a question', error);
  } finally {
    askButton.disabled = false;
    askButton.textContent = 'Ask';
    $('ask-panel').removeAttribute('aria-busy');
  }
});

// ---------------------------------------------------------------------------
// Upload with live progress

const dropZone = $('drop-zone');
const fileInput = $('file-input');
const progress = $('upload-progress');

function showJob(job) {
  const percent = Math.round(Math.max(0, Math.min(1, job.progress)) * 100);
  progress.setAttribute('aria-valuenow', String(percent));
  progress.dataset.status = job.status;
  progress.querySelector('.progress-bar').style.width = `${percent}%`;
  const status = job.status.toLowerCase();
  const stage = job.stage && job.stage !== status ? ` · ${job.stage}` : '';
  $('upload-stage').textContent = `${status}${stage} · ${percent}%`;
}

function describeResult(job) {
  const imported = job.result?.import;
  const parts = [];
  if (imported) {
    parts.push(`Imported ${formatCount(imported.rows_imported)} of ${formatCount(imported.rows_read)} rows`
      + (imported.rows_rejected ? ` (${formatCount(imported.rows_rejected)} rejected)` : ''));
  }
  const analyses = ['kpis', 'sales', 'churn', 'segmentation']
    .filter((name) => job.result?.[name])
    .map((name) => `${name} ${job.result[name].success ? '✓' : '✗'}`);
  if (analyses.length) parts.push(`analyses: ${analyses.join(', ')}`);
  return parts.join(' · ');
}

async function upload(file) {
  // One upload at a time: the progress bar follows one job.
  if (fileInput.disabled) return;
  fileInput.disabled = true;
  $('upload-status').hidden = false;
  $('upload-file').textContent = file.name;
  $('upload-result').textContent = '';
  $('upload-open').hidden = true;
  progress.classList.remove('failed');
  showJob({ progress: 0, status: 'UPLOADING', stage: 'sending the file' });
  dropZone.classList.add('busy');
  try {
    const { uploadDataset } = await uploadFile(file);
    showJob(uploadDataset.job);
    const job = await followJob(uploadDataset.job.id, showJob, (transport) => {
      $('upload-status').dataset.transport = transport;
    });
    $('upload-result').textContent = describeResult(job);
    if (job.status === 'FAILED') {
      progress.classList.add('failed');
      showMessage('Upload', `the analysis of ${file.name} failed: ${job.error ?? 'no reason given'}`);
    } else {
      clearMessage('Upload');
      const openButton = $('upload-open');
      openButton.hidden = false;
      openButton.onclick = async () => {
        await loadDatasets(job.dataset);
        await selectDataset(job.dataset);
      };
    }
    await loadDatasets(state.dataset).catch((error) => reportError('Datasets', error));
  } catch (error) {
    progress.classList.add('failed');
    progress.dataset.status = 'FAILED';
    $('upload-stage').textContent = 'failed';
    reportError('Upload', error);
  } finally {
    dropZone.classList.remove('busy');
    fileInput.disabled = false;
    fileInput.value = '';
  }
}

fileInput.addEventListener('change', () => {
  if (fileInput.files.length) upload(fileInput.files[0]);
});
['dragenter', 'dragover'].forEach((type) => dropZone.addEventListener(type, (event) => {
  event.preventDefault();
  dropZone.classList.add('over');
}));
['dragleave', 'dragend'].forEach((type) => dropZone.addEventListener(type, () => dropZone.classList.remove('over')));
dropZone.addEventListener('drop', (event) => {
  event.preventDefault();
  dropZone.classList.remove('over');
  const file = event.dataTransfer?.files?.[0];
  if (file) upload(file);
});

start();
