// The analytics dashboard: reads GET /api/v1/chat/analytics/dashboard with a pasted bearer token
// (kept in session storage) and draws its figures as SVG. No dependencies, no external requests;
// every text from the server goes through textContent.
(() => {
  'use strict';

  const API = '/api/v1/chat/analytics/dashboard';
  const TOKEN_KEY = 'wms-analytics-token';
  const SVG = 'http://www.w3.org/2000/svg';
  const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
  const $ = (id) => document.getElementById(id);

  function el(tag, attributes = {}, text) {
    const node = tag.startsWith('svg:') ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function formatNumber(value, digits = 0) {
    if (value === null || value === undefined) return '–';
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
  }

  // --- charts ---------------------------------------------------------------------------------

  const WIDTH = 600;
  const HEIGHT = 220;
  const PAD = { left: 48, right: 12, top: 12, bottom: 34 };

  function frame(name, labels, max) {
    const svg = el('svg:svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'data-chart': name, 'data-max': max });
    const plotHeight = HEIGHT - PAD.top - PAD.bottom;
    for (const fraction of [0, 0.5, 1]) {
      const y = PAD.top + plotHeight * (1 - fraction);
      svg.append(el('svg:line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, stroke: '#d8dee6' }));
      svg.append(
        el('svg:text', { x: PAD.left - 6, y: y + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6775' }, formatNumber(max * fraction)),
      );
    }
    const step = Math.max(1, Math.ceil(labels.length / 8));
    const slot = (WIDTH - PAD.left - PAD.right) / Math.max(1, labels.length);
    labels.forEach((label, index) => {
      if (index % step !== 0) return;
      svg.append(
        el(
          'svg:text',
          { x: PAD.left + slot * (index + 0.5), y: HEIGHT - 12, 'text-anchor': 'middle', 'font-size': 11, fill: '#5b6775' },
          label,
        ),
      );
    });
    return { svg, slot, plotHeight };
  }

  function niceMax(values) {
    const max = Math.max(0, ...values.filter((value) => value !== null));
    if (max === 0) return 1;
    const magnitude = 10 ** Math.floor(Math.log10(max));
    return Math.ceil(max / magnitude) * magnitude;
  }

  function shortLabel(period) {
    return period.length === 10 ? period.slice(5) : period;
  }

  function barChart(container, name, points, valueOf) {
    container.replaceChildren();
    const values = points.map(valueOf);
    const max = niceMax(values);
    const { svg, slot, plotHeight } = frame(
      name,
      points.map((point) => shortLabel(point.period)),
      max,
    );
    points.forEach((point, index) => {
      const value = values[index] ?? 0;
      const height = (value / max) * plotHeight;
      const bar = el('svg:rect', {
        x: PAD.left + slot * index + slot * 0.15,
        y: PAD.top + plotHeight - height,
        width: slot * 0.7,
        height,
        fill: '#1f6feb',
        'data-period': point.period,
        'data-value': value,
      });
      bar.append(el('svg:title', {}, `${point.period}: ${formatNumber(value)}`));
      svg.append(bar);
    });
    container.append(svg);
  }

  function lineChart(container, name, points, series) {
    container.replaceChildren();
    const all = series.flatMap((line) => points.map(line.valueOf));
    const max = niceMax(all);
    const { svg, slot, plotHeight } = frame(
      name,
      points.map((point) => shortLabel(point.period)),
      max,
    );
    for (const line of series) {
      const coordinates = [];
      points.forEach((point, index) => {
        const value = line.valueOf(point);
        if (value === null || value === undefined) return;
        const x = PAD.left + slot * (index + 0.5);
        const y = PAD.top + plotHeight - (value / max) * plotHeight;
        coordinates.push(`${x},${y}`);
        const dot = el('svg:circle', {
          cx: x,
          cy: y,
          r: 3.5,
          fill: line.color,
          'data-series': line.name,
          'data-period': point.period,
          'data-value': value,
        });
        dot.append(el('svg:title', {}, `${line.name} ${point.period}: ${formatNumber(value, 1)}`));
        svg.append(dot);
      });
      if (coordinates.length > 1)
        svg.insertBefore(
          el('svg:polyline', { points: coordinates.join(' '), fill: 'none', stroke: line.color, 'stroke-width': 2 }),
          svg.firstChild,
        );
    }
    container.append(svg);
    if (series.length > 1) {
      const legend = el('p', { class: 'legend' });
      legend.textContent = series.map((line) => `${line.color === '#1f6feb' ? '■' : '▲'} ${line.name}`).join('   ');
      container.append(legend);
    }
  }

  function horizontalBars(container, name, rows) {
    container.replaceChildren();
    if (rows.length === 0) {
      container.append(el('p', { class: 'empty' }, 'No tokens in this range.'));
      return;
    }
    const rowHeight = 26;
    const height = rows.length * rowHeight + 8;
    const max = niceMax(rows.map((row) => row.value));
    const svg = el('svg:svg', { viewBox: `0 0 ${WIDTH} ${height}`, role: 'img', 'data-chart': name });
    const labelWidth = 200;
    rows.forEach((row, index) => {
      const y = 4 + index * rowHeight;
      svg.append(el('svg:text', { x: labelWidth - 8, y: y + 16, 'text-anchor': 'end', 'font-size': 12, fill: '#1d2733' }, row.label));
      const width = ((WIDTH - labelWidth - 70) * row.value) / max;
      const bar = el('svg:rect', {
        x: labelWidth,
        y: y + 3,
        width,
        height: rowHeight - 8,
        fill: '#d9822b',
        'data-label': row.label,
        'data-value': row.value,
      });
      bar.append(el('svg:title', {}, `${row.label}: ${formatNumber(row.value)}`));
      svg.append(bar);
      svg.append(el('svg:text', { x: labelWidth + width + 6, y: y + 16, 'font-size': 11, fill: '#5b6775' }, formatNumber(row.value)));
    });
    container.append(svg);
  }

  function heatmap(container, cells) {
    container.replaceChildren();
    const cell = 22;
    const left = 40;
    const top = 18;
    const svg = el('svg:svg', { viewBox: `0 0 ${left + 24 * cell + 4} ${top + 7 * cell + 4}`, role: 'img', 'data-chart': 'heatmap' });
    const max = Math.max(1, ...cells);
    for (let hour = 0; hour < 24; hour += 3)
      svg.append(
        el('svg:text', { x: left + hour * cell + cell / 2, y: 12, 'text-anchor': 'middle', 'font-size': 10, fill: '#5b6775' }, `${hour}h`),
      );
    for (let weekday = 0; weekday < 7; weekday++) {
      svg.append(
        el(
          'svg:text',
          { x: left - 6, y: top + weekday * cell + 15, 'text-anchor': 'end', 'font-size': 11, fill: '#5b6775' },
          WEEKDAYS[weekday],
        ),
      );
      for (let hour = 0; hour < 24; hour++) {
        const value = cells[weekday * 24 + hour] ?? 0;
        const square = el('svg:rect', {
          x: left + hour * cell + 1,
          y: top + weekday * cell + 1,
          width: cell - 2,
          height: cell - 2,
          rx: 3,
          fill: value === 0 ? '#eef1f5' : `rgba(31, 111, 235, ${0.15 + 0.85 * (value / max)})`,
          'data-weekday': weekday,
          'data-hour': hour,
          'data-value': value,
        });
        square.append(el('svg:title', {}, `${WEEKDAYS[weekday]} ${hour}:00 – ${formatNumber(value)} messages`));
        svg.append(square);
      }
    }
    container.append(svg);
  }

  // --- tables and cards -----------------------------------------------------------------------

  function fillTable(id, rows, empty) {
    const body = $(id).querySelector('tbody');
    body.replaceChildren();
    if (rows.length === 0) {
      const row = el('tr');
      row.append(el('td', { colspan: 4 }, empty));
      body.append(row);
      return;
    }
    for (const cells of rows) {
      const row = el('tr');
      cells.forEach((cell, index) => row.append(el('td', index > 0 && typeof cell === 'number' ? { class: 'num' } : {}, cell ?? '–')));
      body.append(row);
    }
  }

  function cards(totals) {
    const container = $('cards');
    container.replaceChildren();
    const entries = [
      ['messages', 'Messages', formatNumber(totals.messages.total)],
      ['active-users', 'Active users', formatNumber(totals.activeUsers)],
      ['sessions', 'Sessions', formatNumber(totals.sessions.count)],
      ['response-p50', 'Reply p50 (ms)', formatNumber(totals.responseTimeMs.p50)],
      ['response-p95', 'Reply p95 (ms)', formatNumber(totals.responseTimeMs.p95)],
      ['satisfaction', 'Satisfaction', totals.satisfactionScore === null ? '–' : `${formatNumber(totals.satisfactionScore, 1)} %`],
      ['unanswered', 'Unanswered', formatNumber(totals.replies.unanswered)],
      ['tokens', 'Tokens', formatNumber(totals.tokens.total)],
    ];
    for (const [key, label, value] of entries) {
      const card = el('div', { class: 'card', 'data-card': key });
      card.append(el('div', { class: 'value' }, value), el('div', { class: 'label' }, label));
      container.append(card);
    }
  }

  // --- data -----------------------------------------------------------------------------------

  function setStatus(text, error = false) {
    $('status').textContent = text;
    $('status').className = error ? 'error' : '';
  }

  async function load() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (!token) return showSignIn();
    const params = new URLSearchParams();
    for (const id of ['scope', 'period', 'from', 'to']) if ($(id).value) params.set(id, $(id).value);
    setStatus('Loading…');
    let response;
    try {
      response = await fetch(`${API}?${params}`, { headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' } });
    } catch {
      return setStatus('The server could not be reached.', true);
    }
    const body = await response.json().catch(() => null);
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn();
      return setStatus('The token was refused (expired or invalid): paste a new one.', true);
    }
    if (!response.ok || !body)
      return setStatus(`${response.status}: ${(body && body.message) || 'the dashboard could not be loaded'}`, true);
    render(body);
  }

  function render(data) {
    const scope = $('scope');
    const chosen = scope.value || 'me';
    scope.replaceChildren(...data.availableScopes.map((value) => el('option', { value }, value === 'me' ? 'My figures' : value)));
    scope.value = data.availableScopes.includes(chosen) ? chosen : 'me';
    $('period').value = data.period;
    $('from').value = data.from;
    $('to').value = data.to;
    document.body.dataset.loaded = 'true';
    const asOf = data.asOf ? new Date(data.asOf).toLocaleString() : 'not rolled up yet';
    setStatus(
      `${data.scope.kind === 'global' ? 'Everyone' : `${data.scope.kind} ${data.scope.id}`}, ${data.from} to ${data.to} (${data.timeZone}) · as of ${asOf}`,
    );

    cards(data.totals);
    barChart($('chart-messages'), 'messages', data.series, (point) => point.messages);
    barChart($('chart-active-users'), 'active-users', data.series, (point) => point.activeUsers);
    lineChart($('chart-response-time'), 'response-time', data.series, [
      { name: 'p50', color: '#1f6feb', valueOf: (point) => point.responseTimeMs.p50 },
      { name: 'p95', color: '#d9822b', valueOf: (point) => point.responseTimeMs.p95 },
    ]);
    lineChart($('chart-satisfaction'), 'satisfaction', data.series, [
      { name: 'satisfaction', color: '#1f6feb', valueOf: (point) => point.satisfactionScore },
    ]);
    const byAgent = new Map();
    for (const use of data.totals.tokens.byModel) byAgent.set(use.agentKey, (byAgent.get(use.agentKey) ?? 0) + use.prompt + use.completion);
    horizontalBars(
      $('chart-tokens'),
      'tokens',
      [...byAgent].map(([label, value]) => ({ label, value })),
    );
    heatmap($('chart-heatmap'), data.insights.busiestHours);

    fillTable(
      'topics',
      data.insights.topics.map((topic) => [topic.term, topic.messages]),
      'No topics in this range.',
    );
    fillTable(
      'unanswered',
      data.insights.unansweredQuestions.map((question) => [question.text ?? '(deleted)', question.count]),
      'Every question was answered.',
    );
    fillTable(
      'agents',
      data.insights.lowestSatisfactionAgents.map((agent) => [agent.agentKey, agent.up, agent.down, agent.satisfactionScore]),
      'No ratings in this range.',
    );
    const comments = data.insights.feedbackComments;
    $('comments-panel').hidden = !comments;
    if (comments)
      fillTable(
        'comments',
        comments.map((comment) => [comment.rating === 'up' ? 'Up' : 'Down', comment.comment, comment.agentKey]),
        'No comments in this range.',
      );
  }

  function showSignIn() {
    $('sign-in').hidden = false;
    $('dashboard').hidden = true;
    $('sign-out').hidden = true;
  }

  function showDashboard() {
    $('sign-in').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = false;
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const token = $('token')
        .value.trim()
        .replace(/^Bearer\s+/i, '');
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $('token').value = '';
      showDashboard();
      void load();
    });
    $('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      void load();
    });
    $('sign-out').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      showSignIn();
      setStatus('');
    });
    if (sessionStorage.getItem(TOKEN_KEY)) {
      showDashboard();
      void load();
    } else showSignIn();
  });
})();
