const response = await fetch('/api/cron-jobs', {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'Authorization': `Bearer ${userToken}`
  },
  body: JSON.stringify({
    name: 'Daily Product Sync',
    description: 'Syncs product data every day at 2 AM',
    cron_expression: '0 2 * * *', // 2 AM daily
    job_type: 'api_call',
    configuration: {
      url: '/api/my-plugin/sync',
      method: 'POST',
      headers: {
        'X-Plugin-Key': 'your-plugin-key'
      }
    },
    plugin_id: 'your-plugin-uuid',
    store_id: 'store-uuid',
    is_active: true,
    timezone: 'UTC'
  })
});

const data = await response.json();
console.log('Cron job created:', data.job.id);
