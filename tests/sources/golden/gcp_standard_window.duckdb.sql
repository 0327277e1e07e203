SELECT
  *
FROM (
  SELECT
    CAST(gcp.cost AS DECIMAL(38, 10)) AS "BilledCost",
    gcp.billing_account_id AS "BillingAccountId",
    gcp.currency AS "BillingCurrency",
    SUBSTRING(gcp.invoice.month, 1, 4) || '-' || SUBSTRING(gcp.invoice.month, 5, 2) || '-01T00:00:00Z' AS "BillingPeriodStart",
    CASE LOWER(gcp.cost_type)
      WHEN 'regular'
      THEN 'Usage'
      WHEN 'tax'
      THEN 'Tax'
      ELSE 'Adjustment'
    END AS "ChargeCategory",
    gcp.sku.description AS "ChargeDescription",
    STRFTIME(gcp.usage_start_time, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodStart",
    STRFTIME(gcp.usage_end_time, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodEnd",
    CAST(CASE WHEN LOWER(gcp.cost_type) = 'regular' THEN gcp.usage.amount END AS DECIMAL(38, 10)) AS "ConsumedQuantity",
    CASE WHEN LOWER(gcp.cost_type) = 'regular' THEN gcp.usage.unit END AS "ConsumedUnit",
    'Google Cloud' AS "ProviderName",
    gcp.location.region AS "RegionId",
    gcp.service.description AS "ServiceName",
    gcp.sku.id AS "SkuId",
    gcp.sku.description AS "SkuMeter",
    gcp.project.id AS "SubAccountId",
    gcp.project.name AS "SubAccountName",
    CASE
      WHEN NOT gcp.labels IS NULL
      THEN '{' || ARRAY_TO_STRING(
        LIST_TRANSFORM(
          gcp.labels,
          LAMBDA label : CAST(TO_JSON(label.key) AS TEXT) || ':' || COALESCE(CAST(TO_JSON(label.value) AS TEXT), 'null')
        ),
        ','
      ) || '}'
    END AS "Tags"
  FROM billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C AS gcp
  WHERE
    gcp.usage_start_time >= CAST('2026-11-02 00:00:00' AS TIMESTAMP)
    AND gcp.usage_start_time < CAST('2026-11-05 00:00:00' AS TIMESTAMP)
    AND gcp.billing_account_id = '0A1B2C-3D4E5F-6A7B8C'
    AND gcp.service.description IN ('Vertex AI')
  UNION ALL
  SELECT
    CAST(credit.amount AS DECIMAL(38, 10)) AS "BilledCost",
    gcp.billing_account_id AS "BillingAccountId",
    gcp.currency AS "BillingCurrency",
    SUBSTRING(gcp.invoice.month, 1, 4) || '-' || SUBSTRING(gcp.invoice.month, 5, 2) || '-01T00:00:00Z' AS "BillingPeriodStart",
    'Credit' AS "ChargeCategory",
    credit.name AS "ChargeDescription",
    STRFTIME(gcp.usage_start_time, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodStart",
    STRFTIME(gcp.usage_end_time, '%Y-%m-%dT%H:%M:%SZ') AS "ChargePeriodEnd",
    CAST(NULL AS DECIMAL(38, 10)) AS "ConsumedQuantity",
    NULL AS "ConsumedUnit",
    'Google Cloud' AS "ProviderName",
    gcp.location.region AS "RegionId",
    gcp.service.description AS "ServiceName",
    gcp.sku.id AS "SkuId",
    gcp.sku.description AS "SkuMeter",
    gcp.project.id AS "SubAccountId",
    gcp.project.name AS "SubAccountName",
    CASE
      WHEN NOT gcp.labels IS NULL
      THEN '{' || ARRAY_TO_STRING(
        LIST_TRANSFORM(
          gcp.labels,
          LAMBDA label : CAST(TO_JSON(label.key) AS TEXT) || ':' || COALESCE(CAST(TO_JSON(label.value) AS TEXT), 'null')
        ),
        ','
      ) || '}'
    END AS "Tags"
  FROM billing.gcp_billing_export_v1_0A1B2C_3D4E5F_6A7B8C AS gcp
  CROSS JOIN UNNEST(gcp.credits) AS credit_list(credit)
  WHERE
    gcp.usage_start_time >= CAST('2026-11-02 00:00:00' AS TIMESTAMP)
    AND gcp.usage_start_time < CAST('2026-11-05 00:00:00' AS TIMESTAMP)
    AND gcp.billing_account_id = '0A1B2C-3D4E5F-6A7B8C'
    AND gcp.service.description IN ('Vertex AI')
) AS window_rows
