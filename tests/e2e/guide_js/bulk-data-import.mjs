const response = await fetch('/api/background-jobs/schedule', {
  method: 'POST',
  headers: {
    'Content-Type': 'application/json',
    'Authorization': `Bearer ${userToken}`
  },
  body: JSON.stringify({
    type: 'plugin:my-plugin:import', // Your custom job type
    payload: {
      source: 'external-api',
      importType: 'products',
      filters: { category: 'electronics' }
    },
    priority: 'normal', // low, normal, high, urgent
    maxRetries: 3,
    storeId: 'store-uuid',
    metadata: {
      pluginId: 'your-plugin-uuid',
      description: 'Importing electronics from API'
    }
  })
});

const data = await response.json();
const jobId = data.job.id;

// Poll for progress
const checkProgress = setInterval(async () => {
  const statusRes = await fetch(`/api/background-jobs/${jobId}/status`, {
    headers: { 'Authorization': `Bearer ${userToken}` }
  });

  const status = await statusRes.json();
  console.log('Progress:', status.job.progress, '%');

  if (status.job.status === 'completed' || status.job.status === 'failed') {
    clearInterval(checkProgress);
    console.log('Job finished:', status.job);
  }
}, 2000);
