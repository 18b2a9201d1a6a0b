// The console's pages: hand-written DOM code over the JSON API (/console/api/…). Text is always
// set with textContent, never parsed as HTML. One file, no build step, no outside library.
/* global window, document, location, history, fetch, EventSource, URLSearchParams, setInterval */
'use strict';
(function () {
  var API = '/console/api/';
  var me = null;
  var main = document.getElementById('main');
  var statusLine = document.getElementById('status');

  // ---- helpers ----------------------------------------------------------------------------
  function h(tag, attrs) {
    var el = document.createElement(tag);
    for (var k in attrs || {}) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (var i = 2; i < arguments.length; i++) add(el, arguments[i]);
    return el;
  }
  function add(el, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c))
      c.forEach(function (x) {
        add(el, x);
      });
    else el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  /** Replaces an element's children; arrays are flattened and null/false left out. */
  function fill(el) {
    el.replaceChildren();
    for (var i = 1; i < arguments.length; i++) add(el, arguments[i]);
  }
  function show() {
    fill.apply(null, [main].concat(Array.prototype.slice.call(arguments)));
  }
  function say(text) {
    statusLine.textContent = text;
  }
  function time(ms) {
    if (!ms) return '–';
    return new Date(ms)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, 'Z');
  }
  function api(path, body) {
    var opts =
      body === undefined
        ? {}
        : {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-csrf-token': me ? me.csrf : '' },
            body: JSON.stringify(body),
          };
    return fetch(API + path, opts).then(function (r) {
      if (r.status === 401) {
        location.href = '/console/login';
        throw new Error('logged out');
      }
      return r.json().then(function (j) {
        if (!r.ok) throw new Error(j.error || 'HTTP ' + r.status);
        return j;
      });
    });
  }
  function table(headers, rows, caption) {
    return h(
      'table',
      {},
      caption ? h('caption', { class: 'muted', text: caption }) : null,
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          headers.map(function (x) {
            return h('th', { scope: 'col', class: x.num ? 'num' : null, text: x.label || x });
          }),
        ),
      ),
      h('tbody', {}, rows),
    );
  }
  function fail(e) {
    say('Error: ' + e.message);
  }

  // ---- sessions ---------------------------------------------------------------------------
  function sessionsView() {
    var params = new URLSearchParams(location.search);
    var q = params.get('q') || '';
    var field = params.get('field') || 'any';
    var cursors = [0];
    var shown = {};
    var results = h('div', {});
    var liveList = h('ul', { class: 'live', 'aria-label': 'Latest decisions' });
    var input = h('input', { id: 'q', name: 'q', type: 'search', value: q, placeholder: 'user, IP, firewall or VPN' });
    var select = h(
      'select',
      { id: 'field', name: 'field' },
      ['any', 'user', 'ip', 'firewall', 'vpn'].map(function (f) {
        return h('option', { value: f, selected: f === field, text: f === 'any' ? 'any field' : f === 'ip' ? 'IP' : f });
      }),
    );
    var form = h(
      'form',
      { class: 'inline', role: 'search', action: '/console/sessions' },
      h('div', {}, h('label', { for: 'q', text: 'Search sessions' }), input),
      h('div', {}, h('label', { for: 'field', text: 'In' }), select),
      h('button', { type: 'submit', text: 'Search' }),
    );
    show(
      h('h1', { text: 'Sessions' }),
      form,
      h(
        'section',
        { class: 'card live-panel', 'aria-labelledby': 'live-h' },
        h('h2', { id: 'live-h', text: 'Live decisions' }),
        liveList,
      ),
      results,
    );

    function load(cursor) {
      var qs = new URLSearchParams({ q: q, field: field, cursor: String(cursor), limit: '50' });
      say('Loading sessions…');
      api('sessions?' + qs).then(function (page) {
        shown = {};
        var rows = page.sessions.map(function (s) {
          return (shown[s.ip] = h(
            'tr',
            {},
            h('td', {}, h('a', { href: '/console/ip/' + encodeURIComponent(s.ip), text: s.ip })),
            h('td', { text: s.user }),
            h('td', { text: s.domain }),
            h('td', { text: s.firewall }),
            h('td', { text: s.vpn || '–' }),
            h('td', { text: time(s.since) }),
            h('td', { text: time(s.lastUpAt) }),
            h('td', { class: 'num', text: String(s.seq) }),
          ));
        });
        var idx = cursors.indexOf(cursor);
        var summary = q
          ? page.sessions.length + ' match(es) for “' + q + '” (' + page.scanned + ' of ' + page.total + ' sessions scanned)'
          : page.total + ' session(s); showing ' + (page.total ? cursor + 1 : 0) + '–' + (cursor + page.sessions.length);
        fill(
          results,
          h('p', { id: 'summary', text: summary }),
          table(['IP', 'User', 'Domain', 'Firewall', 'VPN', 'Since', 'Last UP', { label: 'Seq', num: true }], rows),
          h(
            'div',
            { class: 'pager' },
            h('button', {
              class: 'secondary',
              type: 'button',
              disabled: idx <= 0,
              text: '← Previous',
              onclick: function () {
                load(cursors[idx - 1]);
              },
            }),
            h('button', {
              class: 'secondary',
              type: 'button',
              disabled: page.nextCursor === null,
              text: q ? 'Search further →' : 'Next →',
              onclick: function () {
                if (cursors.indexOf(page.nextCursor) < 0) cursors.push(page.nextCursor);
                load(page.nextCursor);
              },
            }),
          ),
        );
        say('');
      }, fail);
    }
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      q = input.value.trim();
      field = select.value;
      history.replaceState(null, '', '/console/sessions?' + new URLSearchParams({ q: q, field: field }));
      cursors = [0];
      load(0);
    });
    load(0);
    var es = new EventSource(API + 'live');
    es.addEventListener('ready', function () {
      liveList.setAttribute('data-state', 'open');
    });
    es.addEventListener('error', function () {
      liveList.setAttribute('data-state', 'reconnecting');
    });
    es.addEventListener('decisions', function (ev) {
      JSON.parse(ev.data).forEach(function (d) {
        liveList.prepend(
          h(
            'li',
            {},
            time(d.at) + ' ',
            h('a', { href: '/console/ip/' + encodeURIComponent(d.ip), text: d.ip }),
            ' ' + d.decision + (d.user ? ' (' + d.user + ')' : '') + ' seq ' + d.seq,
          ),
        );
        while (liveList.children.length > 20) liveList.lastChild.remove();
        // A row on screen shows the change at once: new seq, and a mark when its session ended.
        var row = shown[d.ip];
        if (row) {
          row.lastChild.textContent = String(d.seq);
          row.classList.add('changed');
          if (d.decision === 'disconnect' || d.decision === 'expired') row.classList.add('ended');
        }
      });
    });
  }

  // ---- IP detail --------------------------------------------------------------------------
  function describe(e) {
    if (e.type === 'line')
      return [
        'Line received: ',
        h('strong', { text: e.kind }),
        ' ' +
          e.user +
          ' from ' +
          e.firewall +
          ' (' +
          (e.transport ? e.transport + ' ' + e.sourceIp + ', ' : '') +
          'pattern ' +
          e.patternId +
          ')',
      ].concat(e.text ? [h('div', { class: 'mono', text: e.text })] : []);
    if (e.type === 'decision')
      return [
        'Decision: ',
        h('strong', { text: e.decision }),
        (e.user ? ' ' + e.user : '') + ', seq ' + e.seq + (e.emitted.length ? ' → ' + e.emitted.join(', ') : ' (nothing sent)'),
      ];
    return [
      'Push ' + e.kind + ' seq ' + e.seq + ': ',
      h('strong', { class: e.outcome === 'delivered' || e.outcome === 'superseded' ? 'ok' : 'bad', text: e.outcome }),
      e.detail ? ' – ' + e.detail : '',
      ' (job ' + e.jobId + ', attempt ' + e.attempt + ')',
    ];
  }
  function ipView(ip) {
    say('Loading ' + ip + '…');
    api('ip/' + encodeURIComponent(ip)).then(function (d) {
      var s = d.session;
      var card = s
        ? h(
            'dl',
            { class: 'kv card' },
            [
              ['User', s.user + (s.domain ? '@' + s.domain : '')],
              ['Firewall', s.firewall],
              ['VPN', s.vpn || '–'],
              ['Since', time(s.since)],
              ['Last UP', time(s.lastUpAt)],
              ['Last rekey', time(s.lastRekeyAt)],
              ['Seq', String(s.seq)],
              ['Tunnels', s.tunnels.join(', ') || '–'],
            ].map(function (kv) {
              return [h('dt', { text: kv[0] }), h('dd', { text: kv[1] })];
            }),
          )
        : h('p', { class: 'card', text: 'No user is mapped to this IP now.' });
      var items = d.history.map(function (e) {
        return h(
          'li',
          { class: e.type + (e.type === 'push' && e.outcome !== 'delivered' && e.outcome !== 'superseded' ? ' fail' : '') },
          h('div', {}, h('time', { text: time(e.at) }), ' · ', h('code', { title: 'correlation id', text: e.correlationId })),
          h('div', {}, describe(e)),
        );
      });
      show(
        h('h1', { text: 'IP ' + d.ip }),
        card,
        h('h2', { text: 'Timeline (newest first)' }),
        items.length
          ? h('ol', { class: 'timeline', 'aria-label': 'History of ' + d.ip }, items)
          : h('p', { class: 'muted', text: 'Nothing recorded for this IP in the kept history.' }),
      );
      say('');
    }, fail);
  }

  // ---- patterns and playground ------------------------------------------------------------
  function explanation(r) {
    var head = h('h3', { class: 'mono', text: 'Line ' + r.line });
    var env =
      'Envelope: ' +
      r.envelope.format +
      ', host ' +
      (r.envelope.hostname || '–') +
      ', tag ' +
      (r.envelope.tag || '–') +
      '; prefilter: ' +
      r.prefilter;
    if (r.miss) {
      return h(
        'article',
        { class: 'card' },
        head,
        h('p', { class: 'muted', text: env }),
        h(
          'p',
          {},
          h('span', { class: 'bad', text: 'No match. ' }),
          r.miss.candidate ? 'Closest pattern: ' + r.miss.candidate + ' — ' + r.miss.reason : r.miss.reason,
        ),
        r.miss.detail ? h('p', { class: 'mono', text: r.miss.detail }) : null,
      );
    }
    var m = r.matched;
    var fields = Object.keys(m.fields).map(function (k) {
      var v = m.fields[k];
      return h(
        'tr',
        {},
        h('th', { scope: 'row', text: k }),
        h('td', { class: 'mono', text: Array.isArray(v) ? v.join(', ') : String(v) }),
      );
    });
    var res =
      r.result.type === 'ignored'
        ? h('p', { class: 'warn', text: 'Ignored: ' + r.result.reason + ' (' + r.result.detail + ')' })
        : h(
            'p',
            {},
            'Event: ',
            h('strong', { text: r.result.event.kind }),
            ' ' +
              r.result.event.user +
              '@' +
              r.result.event.domain +
              ' on ' +
              r.result.event.ips.join(', ') +
              ' from ' +
              r.result.event.firewall,
          );
    return h(
      'article',
      { class: 'card' },
      head,
      h('p', { class: 'muted', text: env }),
      h(
        'p',
        {},
        h('span', { class: 'ok', text: 'Matched ' }),
        m.patternId + ' (' + m.kind + (m.verified ? '' : ', UNVERIFIED') + ')',
      ),
      h('table', {}, h('tbody', {}, fields)),
      res,
    );
  }
  function patternsView() {
    var text = h('textarea', { id: 'lines', name: 'lines', spellcheck: 'false' });
    var out = h('div', { id: 'explained', 'aria-live': 'polite' });
    var playground = h(
      'form',
      { 'aria-labelledby': 'pg' },
      h('h2', { id: 'pg', text: 'Playground' }),
      h('label', { for: 'lines', text: 'Syslog lines, one per line, as the firewall sends them' }),
      text,
      h('p', {}, h('button', { type: 'submit', text: 'Explain' })),
      out,
    );
    playground.addEventListener('submit', function (ev) {
      ev.preventDefault();
      say('Explaining…');
      api('patterns/explain', { text: text.value }).then(function (r) {
        fill(out, r.results.map(explanation));
        say(r.results.length + ' line(s) explained');
      }, fail);
    });
    var list = h('div', {}, h('p', { text: 'Loading the pattern library…' }));
    show(h('h1', { text: 'Patterns' }), list, playground);
    api('patterns').then(function (p) {
      var rows = (p.patterns || []).map(function (x) {
        var st = !x.enabled
          ? h('span', { class: 'muted', text: 'disabled' })
          : x.examples.failed
            ? h('span', { class: 'bad', text: x.examples.failed + ' example(s) fail' })
            : !x.verified
              ? h('span', { class: 'warn', text: 'unverified' })
              : h('span', { class: 'ok', text: 'ok' });
        return h(
          'tr',
          {},
          h('td', { class: 'mono', text: x.id }),
          h('td', { text: x.kind }),
          h('td', { class: 'num', text: x.examples.ok + ' / ' + (x.examples.ok + x.examples.failed) }),
          h('td', {}, st),
          h('td', { class: 'mono', text: x.file.split('/').pop() + ':' + x.line }),
        );
      });
      var probs = p.problems.concat(p.warnings).map(function (x) {
        return h('li', { class: p.problems.indexOf(x) >= 0 ? 'bad' : 'warn', text: (x.path ? x.path + ': ' : '') + x.message });
      });
      fill(
        list,
        h('p', {
          text:
            (p.loads ? 'The library on disk loads' : 'The library on disk does NOT load') +
            (p.running ? '; the bridge runs ' + p.running.patterns + ' pattern(s).' : '.'),
        }),
        table(['Pattern', 'Kind', { label: 'Examples passing', num: true }, 'Status', 'File'], rows),
        probs.length ? [h('h2', { text: 'Problems and warnings' }), h('ul', {}, probs)] : null,
      );
    }, fail);
  }

  // ---- queue and failed -------------------------------------------------------------------
  function queueView() {
    var admin = me.role === 'admin';
    show(h('h1', { text: 'Queue' }), h('p', { text: 'Loading…' }));
    function load() {
      api('queue').then(function (d) {
        var s = d.stats;
        var boxes = [];
        var rows = d.failed.map(function (f) {
          var box = h('input', { type: 'checkbox', value: f.jobId, 'aria-label': 'select ' + f.jobId });
          boxes.push(box);
          return h(
            'tr',
            {},
            h('td', {}, box),
            h('td', { class: 'mono', text: f.jobId }),
            h('td', {}, h('a', { href: '/console/ip/' + encodeURIComponent(f.ip), text: f.ip })),
            h('td', { text: f.user }),
            h('td', { text: f.kind }),
            h('td', { class: 'num', text: String(f.seq) }),
            h('td', { text: f.failedReason }),
            h('td', { text: time(f.finishedOn) }),
          );
        });
        function act(path, body, what) {
          say(what + '…');
          api(path, body).then(function (r) {
            say(what + ': ' + JSON.stringify(r));
            load();
          }, fail);
        }
        var note = admin ? null : h('p', { class: 'muted', id: 'admin-note', text: 'Retry and purge need the admin role.' });
        show(
          h('h1', { text: 'Queue' }),
          h(
            'dl',
            { class: 'kv card', 'aria-label': 'Jobs by state' },
            ['waiting', 'delayed', 'active', 'failed', 'completed', 'outbox'].map(function (k) {
              return [h('dt', { text: k }), h('dd', { class: 'num', text: String(s[k]) })];
            }),
          ),
          h('h2', { text: 'Failed events (' + s.failed + ')' }),
          note,
          h(
            'div',
            { class: 'pager' },
            h('button', {
              type: 'button',
              id: 'retry-selected',
              disabled: !admin,
              text: 'Retry selected',
              onclick: function () {
                act(
                  'failed/retry',
                  {
                    jobIds: boxes
                      .filter(function (b) {
                        return b.checked;
                      })
                      .map(function (b) {
                        return b.value;
                      }),
                  },
                  'Retry',
                );
              },
            }),
            h('button', {
              type: 'button',
              class: 'secondary',
              disabled: !admin,
              text: 'Retry all',
              onclick: function () {
                act('failed/retry', { all: true }, 'Retry all');
              },
            }),
            h('button', {
              type: 'button',
              class: 'danger',
              disabled: !admin,
              text: 'Purge all failed',
              onclick: function () {
                if (window.confirm('Delete every failed event for good?')) act('failed/purge', {}, 'Purge');
              },
            }),
          ),
          rows.length
            ? table(['', 'Job', 'IP', 'User', 'Kind', { label: 'Seq', num: true }, 'Reason', 'Failed at'], rows)
            : h('p', { class: 'muted', text: 'No failed events.' }),
        );
      }, fail);
    }
    load();
  }

  // ---- health -----------------------------------------------------------------------------
  function chart(title, series, a, b, unit) {
    var w = 260,
      hgt = 70;
    var vals = series.map(function (p) {
      return Math.max(p[a] || 0, b ? p[b] || 0 : 0);
    });
    var max = Math.max.apply(null, vals.concat([1e-9]));
    function line(key, cls) {
      var pts = series
        .map(function (p, i) {
          var x = series.length > 1 ? (i * w) / (series.length - 1) : 0;
          return x.toFixed(1) + ',' + (hgt - ((p[key] || 0) / max) * (hgt - 4) - 2).toFixed(1);
        })
        .join(' ');
      var el = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
      el.setAttribute('points', pts);
      if (cls) el.setAttribute('class', cls);
      return el;
    }
    var svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', '0 0 ' + w + ' ' + hgt);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('aria-hidden', 'true');
    svg.appendChild(line(a));
    if (b) svg.appendChild(line(b, 'second'));
    var lastP = series[series.length - 1] || {};
    var now = lastP[a] === null || lastP[a] === undefined ? '–' : (+lastP[a]).toFixed(1) + ' ' + unit;
    return h(
      'figure',
      { class: 'chart card' },
      h('figcaption', {}, h('strong', { text: title }), ' now ' + now + ', peak ' + max.toFixed(1) + ' ' + unit),
      svg,
    );
  }
  function healthView() {
    function load() {
      api('health').then(function (d) {
        var checks = d.checks.map(function (c) {
          return h(
            'tr',
            {},
            h('td', { text: c.name }),
            h('td', {}, h('span', { class: c.ok ? 'ok' : c.required ? 'bad' : 'warn', text: c.ok ? 'ok' : 'failing' })),
            h('td', { text: c.required ? 'required' : 'informative' }),
            h('td', { text: c.detail || '' }),
          );
        });
        var servers = Object.keys(d.jims.servers).map(function (k) {
          return h(
            'li',
            {},
            k + ': ' + d.jims.servers[k],
            d.jims.active === k ? h('span', { class: 'badge ok', text: 'in use' }) : null,
          );
        });
        var s = d.series;
        show(
          h(
            'h1',
            {},
            'Health ',
            h('span', { class: d.ready ? 'badge ok' : 'badge bad', text: d.ready ? 'ready' : 'not ready' }),
            ' ',
            h('span', { class: 'muted', text: d.sessionsActive + ' IP(s) mapped now' }),
          ),
          h('h2', {
            text: 'Last ' + Math.round((s.length * d.intervalMs) / 60000) + ' min (one point per ' + d.intervalMs / 1000 + ' s)',
          }),
          h(
            'div',
            { class: 'charts' },
            chart('Syslog received', s, 'receivedPerSec', null, '/s'),
            chart('Pushes delivered', s, 'deliveredPerSec', null, '/s'),
            chart('Latency p50 / p95 (dashed)', s, 'latencyP50Ms', 'latencyP95Ms', 'ms'),
            chart('Identity events', s, 'eventsPerSec', null, '/s'),
            chart('Push retries and failures', s, 'failedPerSec', null, '/s'),
          ),
          h('h2', { text: 'Readiness' }),
          table(['Check', 'State', 'Kind', 'Detail'], checks),
          h('h2', { text: 'JIMS' }),
          servers.length ? h('ul', {}, servers) : h('p', { class: 'muted', text: 'No JIMS server configured in this process.' }),
        );
      }, fail);
    }
    load();
    setInterval(load, 5000);
  }

  // ---- start ------------------------------------------------------------------------------
  api('me').then(function (m) {
    me = m;
    document.getElementById('who').textContent = m.user + ' (' + m.role + ')';
    var path = location.pathname.replace(/\/+$/, '');
    document.querySelectorAll('nav a').forEach(function (a) {
      if (path.indexOf(a.getAttribute('href')) === 0 || (path === '/console' && a.getAttribute('href') === '/console/sessions'))
        a.setAttribute('aria-current', 'page');
    });
    if (path.indexOf('/console/ip/') === 0) return ipView(decodeURIComponent(path.slice('/console/ip/'.length)));
    if (path === '/console/patterns') return patternsView();
    if (path === '/console/queue') return queueView();
    if (path === '/console/health') return healthView();
    return sessionsView();
  }, fail);
})();
