// Signs in as a customer user and walks the UI the way a validation lead would, checking
// what each page shows and saving a screenshot of each. Usage:
//   node ui.js BASE_URL USERNAME PASSWORD OUT_DIR OTHER_TENANT_NAME
// Exits non-zero with a message on the first failed check.
const { chromium } = require('playwright-core');

const [base, username, password, out, otherTenant] = process.argv.slice(2);

function check(cond, what) {
  if (!cond) {
    throw new Error(`check failed: ${what}`);
  }
  console.log(`ok: ${what}`);
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${base}/releases`);
    check(page.url().includes('/login?next='), 'an anonymous visit lands on the sign-in page');
    await page.fill('#username', username);
    await page.fill('#password', 'wrong password');
    await page.click('button[type=submit]');
    check(await page.isVisible('text=Unknown username or wrong password.'), 'a wrong password is refused');
    await page.fill('#password', password);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/releases`);
    check(true, 'signing in returns to the page asked for');
    await page.screenshot({ path: `${out}/releases.png`, fullPage: true });

    await page.click('nav >> text=Environments');
    await page.waitForSelector('h1:has-text("Environments")');
    const home = await page.textContent('main');
    check(home.includes('PROD-MAIN') && home.includes('PROD-TEST'), 'the own PROD pair is listed');
    check(!home.includes(otherTenant), 'no other tenant is visible');
    await page.screenshot({ path: `${out}/environments.png`, fullPage: true });

    await page.click('nav >> text=Release notes');
    await page.selectOption('#from', '24.1.0.1042');
    await page.selectOption('#to', '24.3.0.1300');
    await page.click('button:has-text("Show")');
    const frame = page.frameLocator('iframe[title="release notes"]');
    await frame.locator('h2:has-text("Needs your validation")').waitFor();
    const notes = await frame.locator('body').textContent();
    check(notes.includes('APP-3199') && notes.includes('APP-3301'), 'the cumulative notes list hotfix and feature items');
    check(notes.includes('not covered by the vendor'), 'the configuration-items reminder is shown');
    await page.screenshot({ path: `${out}/notes.png`, fullPage: true });

    const href = await page.getAttribute('a:has-text("PDF")', 'href');
    const resp = await page.request.get(`${base}${href}`);
    const body = await resp.body();
    check(resp.ok() && body.subarray(0, 5).toString() === '%PDF-', 'the PDF link downloads with the session');
    require('fs').writeFileSync(`${out}/notes.pdf`, body);

    await page.click('button:has-text("Sign out")');
    await page.goto(`${base}/`);
    check(page.url().includes('/login'), 'after signing out the pages ask to sign in again');
  } finally {
    await browser.close();
  }
})().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
