"""A deterministic, realistic historical-projects table for the local provider.

One row per past project, with the columns of the shared table contract. Values are
correlated the way real pipeline data is: a customer keeps its industry, segment and
country; the industry favours some activities; the activity picks the AWS service mix,
the wording of the description and the delivery length; the segment scales the costs
(log-normal, so a few large projects dominate, as they do in practice).

The vocabulary comes first, then the generator, then the Parquet file handling.
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import accumulate
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "ACTIVITY_NAMES",
    "COLUMNS",
    "COST_COLUMNS",
    "COUNTRY_GEO",
    "DATASET_VERSION",
    "DATE_COLUMNS",
    "INDUSTRIES",
    "SEGMENTS",
    "SERVICE_SLOTS",
    "Geo",
    "ensure_dataset",
    "generate_rows",
]

# Bump whenever generated values change: it is part of every cache key.
DATASET_VERSION = "historical-projects-1"
SERVICE_SLOTS = 10
DATE_COLUMNS = ("close_date", "planned_delivery_start_date", "planned_delivery_end_date")
NAME_COLUMNS = tuple(f"service{i}_name" for i in range(1, SERVICE_SLOTS + 1))
MONTHLY_COLUMNS = tuple(f"service{i}_monthly_cost" for i in range(1, SERVICE_SLOTS + 1))
UPFRONT_COLUMNS = tuple(f"service{i}_upfront_cost" for i in range(1, SERVICE_SLOTS + 1))
COST_COLUMNS = ("annual_run_rate_usd", *MONTHLY_COLUMNS, *UPFRONT_COLUMNS)
COLUMNS = (
    "opportunity_id",
    "customer_name",
    "customer_segment",
    "industry",
    "partner_name",
    "opportunity_name",
    "description",
    "business_description",
    "activity_name",
    "migration_phase",
    "region",
    "sub_region",
    "country",
    *DATE_COLUMNS,
    "annual_run_rate_usd",
    *NAME_COLUMNS,
    *MONTHLY_COLUMNS,
    *UPFRONT_COLUMNS,
)

# ---------------------------------------------------------------- vocabulary
# fmt: off


@dataclass(frozen=True)
class Geo:
    region: str
    sub_regions: tuple[str, ...]
    weight: float  # share of customers based there


COUNTRY_GEO: dict[str, Geo] = {
    "United States": Geo("North America", ("US East", "US West", "US Central"), 30),
    "Canada": Geo("North America", ("Canada",), 4),
    "Germany": Geo("Europe", ("DACH",), 5),
    "Switzerland": Geo("Europe", ("DACH",), 1.5),
    "Austria": Geo("Europe", ("DACH",), 1),
    "United Kingdom": Geo("Europe", ("UK & Ireland",), 6),
    "Ireland": Geo("Europe", ("UK & Ireland",), 1),
    "France": Geo("Europe", ("France",), 4),
    "Netherlands": Geo("Europe", ("Benelux",), 2),
    "Belgium": Geo("Europe", ("Benelux",), 1),
    "Spain": Geo("Europe", ("Southern Europe",), 2),
    "Italy": Geo("Europe", ("Southern Europe",), 2),
    "Sweden": Geo("Europe", ("Nordics",), 1.5),
    "Denmark": Geo("Europe", ("Nordics",), 1),
    "Norway": Geo("Europe", ("Nordics",), 1),
    "Finland": Geo("Europe", ("Nordics",), 1),
    "Australia": Geo("Asia Pacific", ("ANZ",), 4),
    "New Zealand": Geo("Asia Pacific", ("ANZ",), 1),
    "Japan": Geo("Asia Pacific", ("Japan",), 5),
    "India": Geo("Asia Pacific", ("India",), 4),
    "Singapore": Geo("Asia Pacific", ("ASEAN",), 2),
    "Indonesia": Geo("Asia Pacific", ("ASEAN",), 1.5),
    "Malaysia": Geo("Asia Pacific", ("ASEAN",), 1),
    "South Korea": Geo("Asia Pacific", ("Korea",), 2),
    "Brazil": Geo("Latin America", ("Brazil",), 4),
    "Mexico": Geo("Latin America", ("Mexico",), 2),
    "Chile": Geo("Latin America", ("South America",), 1),
    "Colombia": Geo("Latin America", ("South America",), 1),
    "Argentina": Geo("Latin America", ("South America",), 1),
    "United Arab Emirates": Geo("Middle East & Africa", ("Middle East",), 2),
    "Saudi Arabia": Geo("Middle East & Africa", ("Middle East",), 1.5),
    "Israel": Geo("Middle East & Africa", ("Middle East",), 1),
    "South Africa": Geo("Middle East & Africa", ("Africa",), 1.5),
    "Nigeria": Geo("Middle East & Africa", ("Africa",), 0.5),
    "Kenya": Geo("Middle East & Africa", ("Africa",), 0.5),
}


@dataclass(frozen=True)
class _Segment:
    customer_share: float
    project_weight: float  # large customers run more projects
    cost_scale: float
    employees: int
    adjective: str


SEGMENTS: dict[str, _Segment] = {
    "Enterprise": _Segment(0.22, 3.0, 3.5, 40_000, "global"),
    "Mid-Market": _Segment(0.28, 1.5, 1.0, 2_500, "mid-sized"),
    "SMB": _Segment(0.25, 0.7, 0.3, 150, "small"),
    "Public Sector": _Segment(0.10, 2.0, 2.0, 8_000, "government-funded"),
    "Startup": _Segment(0.15, 0.8, 0.45, 120, "fast-growing venture-backed"),
}

# Segments that concentrate in some industries; unlisted industries weigh 1.
_SEGMENT_INDUSTRY: dict[str, dict[str, float]] = {
    "Enterprise": {"Public Sector": 0.0, "Education": 0.2},
    "Mid-Market": {"Public Sector": 0.0},
    "SMB": {"Public Sector": 0.0, "Telecommunications": 0.2, "Energy": 0.3},
    "Public Sector": {
        **{i: 0.0 for i in ("Retail", "Media & Entertainment", "Software & Internet")},
        **{i: 0.0 for i in ("Automotive", "Travel & Hospitality", "Manufacturing")},
        **{"Public Sector": 12, "Education": 5, "Healthcare": 3, "Energy": 0.5},
        **{"Financial Services": 0.2, "Telecommunications": 0.2},
    },
    "Startup": {
        "Software & Internet": 8,
        "Financial Services": 2,
        "Healthcare": 1.5,
        "Public Sector": 0.0,
        "Energy": 0.3,
        "Telecommunications": 0.2,
    },
}


@dataclass(frozen=True)
class _Service:
    name: str
    probability: float
    median_monthly: float  # USD at a mid-market scale of 1


@dataclass(frozen=True)
class _Activity:
    services: tuple[_Service, ...]  # the first one is the activity's primary service
    techs: tuple[str, ...]
    templates: tuple[str, ...]
    months: tuple[int, int]  # delivery length range
    phased: bool  # migration-style work that reports a migration phase


def _mix(*items: tuple[str, float, float]) -> tuple[_Service, ...]:
    return tuple(_Service(*item) for item in items)


_EC2, _S3, _EBS, _RDS = "Amazon EC2", "Amazon S3", "Amazon EBS", "Amazon RDS"
_LAMBDA, _APIGW, _DDB = "AWS Lambda", "Amazon API Gateway", "Amazon DynamoDB"
_CW, _DX, _ELB = "Amazon CloudWatch", "AWS Direct Connect", "Elastic Load Balancing"
_BACKUP, _FSX = "AWS Backup", "Amazon FSx"

_ACTIVITIES: dict[str, _Activity] = {
    "Migration": _Activity(
        _mix(
            (_EC2, 1.0, 9000), (_EBS, 0.9, 1500), (_S3, 0.9, 900), (_RDS, 0.6, 4000),
            ("AWS Application Migration Service", 0.5, 300),
            ("AWS Database Migration Service", 0.4, 600), (_DX, 0.4, 700),
            (_ELB, 0.6, 400), (_CW, 0.6, 250), (_BACKUP, 0.5, 350),
        ),
        ("Oracle databases", "VMware virtual machines", "Windows Server workloads",
         "SQL Server databases", "Linux application servers", "IBM WebSphere applications",
         "file servers", "ERP system", "e-commerce platform"),
        ("Migrate on-premises {tech} to {svc1} and {svc2} as part of a data center exit.",
         "Lift-and-shift of {count} {tech} from a co-located data center to {svc1}.",
         "Rehost the {workload} estate running on {tech} onto {svc1}, with {svc2} alongside."),
        (4, 18), True,
    ),
    "Modernization": _Activity(
        _mix(
            ("Amazon Aurora", 0.8, 5000), ("Amazon ECS", 0.5, 3000), ("Amazon EKS", 0.4, 3500),
            (_LAMBDA, 0.6, 800), (_APIGW, 0.5, 500), (_DDB, 0.4, 1200), (_S3, 0.7, 600),
            ("Amazon SQS", 0.4, 150), (_CW, 0.6, 250),
            ("AWS Mainframe Modernization", 0.2, 8000), ("AWS Step Functions", 0.3, 200),
        ),
        ("mainframe COBOL applications", "Oracle databases", "Java monolith",
         ".NET Framework applications", "WebLogic middleware", "AS/400 system",
         "SQL Server databases"),
        ("Modernize the legacy {tech} into microservices on {svc1} backed by {svc2}.",
         "Refactor the monolithic {workload} application from {tech} to cloud-native "
         "services on {svc1}.",
         "Replatform {tech} to managed services, moving the {workload} data to {svc2}."),
        (6, 24), True,
    ),
    "Data & Analytics": _Activity(
        _mix(
            (_S3, 1.0, 2500), ("AWS Glue", 0.9, 2000), ("Amazon Redshift", 0.6, 9000),
            ("Amazon Athena", 0.7, 800), ("Amazon EMR", 0.4, 6000),
            ("Amazon Kinesis", 0.4, 1500), ("Amazon QuickSight", 0.5, 700),
            ("AWS Lake Formation", 0.3, 100), ("Amazon OpenSearch Service", 0.2, 2000),
        ),
        ("Teradata data warehouse", "Hadoop cluster", "Oracle Exadata",
         "on-premises SQL Server data warehouse", "Informatica ETL pipelines",
         "Cloudera cluster", "Netezza appliance"),
        ("Build a data lake on {svc1} with {svc2} to consolidate {workload} data from the "
         "{tech}.",
         "Migrate the {tech} to a modern analytics platform on {svc1} and {svc2}.",
         "Deliver near real-time dashboards for {workload} using streaming ingestion and "
         "{svc1}, retiring the {tech}."),
        (3, 12), False,
    ),
    "Generative AI": _Activity(
        _mix(
            ("Amazon Bedrock", 1.0, 6000), ("Amazon OpenSearch Service", 0.6, 2500),
            (_LAMBDA, 0.7, 500), (_S3, 0.8, 400), ("Amazon SageMaker", 0.4, 5000),
            ("Amazon Kendra", 0.3, 2500), (_APIGW, 0.5, 300), (_DDB, 0.4, 400),
            ("Amazon Q Business", 0.25, 3000),
        ),
        ("internal policy documents", "product manuals", "support tickets",
         "contracts and legal documents", "call center transcripts", "clinical notes",
         "code repositories"),
        ("Launch a generative AI assistant for {workload} on {svc1} with retrieval-augmented "
         "generation over {tech}.",
         "Build a generative AI knowledge search on {svc1} that summarises {tech} for the "
         "{workload} teams.",
         "Pilot large language model agents on {svc1} to automate {workload}, grounded in "
         "{tech}."),
        (2, 9), False,
    ),
    "Machine Learning": _Activity(
        _mix(
            ("Amazon SageMaker", 1.0, 9000), (_S3, 0.9, 1200), (_EC2, 0.4, 6000),
            ("AWS Glue", 0.4, 900), ("Amazon Athena", 0.3, 300),
            ("Amazon ECR", 0.4, 100), (_LAMBDA, 0.3, 300),
        ),
        ("on-premises GPU servers", "SAS analytics", "R scripts on desktops",
         "spreadsheet-based forecasting", "a legacy rules engine"),
        ("Train and deploy machine learning models on {svc1} for {workload}, replacing "
         "{tech}.",
         "Build an MLOps platform on {svc1} with features stored in {svc2} for {workload}.",
         "Move {workload} forecasting from {tech} to machine learning pipelines on {svc1}."),
        (3, 12), False,
    ),
    "Disaster Recovery": _Activity(
        _mix(
            ("AWS Elastic Disaster Recovery", 1.0, 2500), (_EC2, 0.7, 3000),
            (_S3, 0.9, 1200), (_EBS, 0.8, 900), (_BACKUP, 0.6, 600), (_DX, 0.3, 600),
            ("Amazon Route 53", 0.5, 80),
        ),
        ("VMware virtual machines", "Oracle databases", "SQL Server databases",
         "Windows file servers", "SAP HANA", "core business applications"),
        ("Establish disaster recovery for {tech} using {svc1} with a recovery time "
         "objective of {hours} hours.",
         "Replace the secondary data center with a pilot-light disaster recovery site on "
         "AWS for {workload} and {tech}."),
        (2, 8), True,
    ),
    "SAP on AWS": _Activity(
        _mix(
            (_EC2, 1.0, 25000), (_EBS, 1.0, 4000), (_S3, 0.8, 800), (_FSX, 0.5, 2000),
            (_BACKUP, 0.6, 900), (_DX, 0.6, 1500), (_ELB, 0.4, 200), (_CW, 0.5, 300),
        ),
        ("SAP BW", "SAP ECC", "SAP HANA databases", "SAP PI/PO", "SAP Solution Manager",
         "ERP"),
        ("Migrate SAP ECC to SAP S/4HANA on AWS, running HANA on certified {svc1} "
         "instances.",
         "Move the SAP ERP landscape including {tech} to AWS, running on {svc1} and {svc2}.",
         "Rehost {tech} and the surrounding ERP interfaces on {svc1}."),
        (6, 24), True,
    ),
    "Containers": _Activity(
        _mix(
            ("Amazon EKS", 0.8, 6000), ("Amazon ECS", 0.3, 3000), ("AWS Fargate", 0.5, 3500),
            ("Amazon ECR", 0.8, 200), (_EC2, 0.6, 7000), (_ELB, 0.8, 600), (_CW, 0.6, 400),
            (_RDS, 0.4, 3000), ("Amazon ElastiCache", 0.3, 1000),
        ),
        ("self-managed Kubernetes", "OpenShift", "Docker Swarm", "VMware virtual machines",
         "Cloud Foundry", "Java application servers"),
        ("Containerize {count} microservices and move them from {tech} to Kubernetes on "
         "{svc1}.",
         "Adopt Kubernetes on {svc1} for the {workload} platform, replacing {tech}."),
        (3, 12), False,
    ),
    "Serverless": _Activity(
        _mix(
            (_LAMBDA, 1.0, 2500), (_APIGW, 0.9, 1200), (_DDB, 0.8, 2000), (_S3, 0.7, 400),
            ("AWS Step Functions", 0.5, 400), ("Amazon EventBridge", 0.5, 150),
            ("Amazon SQS", 0.5, 200), ("Amazon SNS", 0.4, 100),
            ("Amazon CloudFront", 0.5, 900), ("Amazon Cognito", 0.3, 300),
        ),
        ("cron-driven batch servers", "a PHP monolith", "IIS web servers",
         "a legacy message broker", "on-premises integration middleware"),
        ("Rebuild the {workload} APIs as serverless functions on {svc1} fronted by {svc2}.",
         "Event-driven serverless architecture for {workload}, retiring {tech}."),
        (2, 9), False,
    ),
    "Contact Center": _Activity(
        _mix(
            ("Amazon Connect", 1.0, 12000), ("Amazon Lex", 0.7, 1500),
            ("Amazon Transcribe", 0.5, 1200), (_LAMBDA, 0.6, 300), (_DDB, 0.4, 300),
            (_S3, 0.6, 300), ("Amazon Kinesis", 0.3, 500),
        ),
        ("Avaya", "Cisco UCCE", "Genesys on-premises", "Mitel", "on-premises IVR"),
        ("Replace the legacy {tech} call center with {svc1}, adding a conversational IVR "
         "with {svc2}.",
         "Move {count} call center agents from {tech} to a cloud contact center on {svc1}."),
        (2, 9), False,
    ),
    "High Performance Computing": _Activity(
        _mix(
            (_EC2, 1.0, 30000), (_FSX, 0.8, 6000), (_S3, 0.8, 2000),
            ("AWS ParallelCluster", 0.5, 50), ("AWS Batch", 0.5, 200), (_DX, 0.3, 1500),
        ),
        ("Slurm cluster", "PBS grid", "Lustre file system", "GPU render farm",
         "Windows HPC cluster"),
        ("Burst HPC simulations for {workload} from the on-premises {tech} to {svc1}.",
         "Run {workload} HPC workloads on {svc1} with {svc2} for high-throughput storage, "
         "replacing the {tech}."),
        (2, 10), False,
    ),
    "Windows Workloads": _Activity(
        _mix(
            (_EC2, 1.0, 14000), (_EBS, 0.9, 2000), (_RDS, 0.6, 6000), (_FSX, 0.6, 1500),
            ("AWS Directory Service", 0.6, 300), ("Amazon WorkSpaces", 0.3, 4000),
            (_BACKUP, 0.5, 500),
        ),
        ("Windows Server 2012 workloads", ".NET applications", "SQL Server databases",
         "Active Directory", "SharePoint farms", "Citrix virtual desktops"),
        ("Migrate {tech} to {svc1}, optimising Windows and SQL Server licensing.",
         "Move the {workload} Windows estate, including {tech}, to {svc1} and {svc2}."),
        (3, 12), True,
    ),
    "VMware Migration": _Activity(
        _mix(
            ("Amazon Elastic VMware Service", 0.6, 30000), (_EC2, 0.6, 9000),
            ("AWS Application Migration Service", 0.5, 400), (_EBS, 0.7, 1500),
            (_S3, 0.6, 600), (_DX, 0.6, 1200), (_FSX, 0.3, 1500),
        ),
        ("vSphere clusters", "VMware virtual machines", "vSAN storage", "NSX networking"),
        ("Move {count} VMware virtual machines from vSphere to {svc1} before the hardware "
         "refresh.",
         "Exit the VMware data center: {tech} for {workload} move to {svc1}."),
        (3, 15), True,
    ),
    "Security & Compliance": _Activity(
        _mix(
            ("Amazon GuardDuty", 0.9, 1200), ("AWS Security Hub", 0.9, 600),
            ("AWS WAF", 0.6, 500), ("AWS Key Management Service", 0.8, 150),
            ("AWS CloudTrail", 0.8, 300), ("AWS Shield", 0.2, 3000), ("AWS Config", 0.7, 400),
            ("Amazon Macie", 0.4, 800),
        ),
        ("PCI DSS", "HIPAA", "GDPR", "SOC 2", "ISO 27001", "FedRAMP", "DORA"),
        ("Implement a multi-account landing zone with centralized logging and {svc1} to "
         "meet {tech} requirements.",
         "Harden the {workload} environment for {tech} with {svc1} and {svc2}."),
        (2, 8), False,
    ),
    "IoT": _Activity(
        _mix(
            ("AWS IoT Core", 1.0, 2000), ("AWS IoT SiteWise", 0.5, 1500),
            ("Amazon Timestream", 0.5, 1200), ("Amazon Kinesis", 0.6, 1500),
            (_S3, 0.8, 500), (_LAMBDA, 0.6, 400), ("Amazon SageMaker", 0.3, 3000),
            ("AWS IoT Greengrass", 0.4, 300),
        ),
        ("PLC controllers", "SCADA systems", "connected vehicles", "smart meters",
         "OPC-UA gateways"),
        ("Connect {count} {tech} to {svc1} and analyse telemetry in {svc2} for {workload}.",
         "Stream data from {tech} into {svc1} to enable predictive maintenance for "
         "{workload}."),
        (3, 12), False,
    ),
}
ACTIVITY_NAMES = tuple(_ACTIVITIES)

# Activities an industry favours (weight); every other activity weighs 1.
_INDUSTRY_FOCUS: dict[str, dict[str, float]] = {
    "Financial Services": {"Migration": 5, "Data & Analytics": 4, "Security & Compliance": 4,
                           "Generative AI": 3, "Modernization": 4, "Contact Center": 2},
    "Healthcare": {"Data & Analytics": 4, "Machine Learning": 3, "Migration": 4,
                   "Security & Compliance": 4, "Contact Center": 2, "Generative AI": 2},
    "Retail": {"Serverless": 4, "Containers": 3, "Data & Analytics": 4, "Generative AI": 3,
               "Contact Center": 3, "Machine Learning": 2},
    "Manufacturing": {"SAP on AWS": 6, "IoT": 5, "High Performance Computing": 2,
                      "Migration": 4, "Windows Workloads": 2},
    "Media & Entertainment": {"Containers": 3, "Serverless": 3, "Generative AI": 4,
                              "High Performance Computing": 4, "Data & Analytics": 2},
    "Telecommunications": {"Containers": 4, "Data & Analytics": 4, "Contact Center": 4,
                           "Modernization": 3, "Machine Learning": 2},
    "Energy": {"High Performance Computing": 5, "IoT": 4, "Data & Analytics": 3,
               "SAP on AWS": 3, "Migration": 2},
    "Education": {"Migration": 4, "Contact Center": 2, "Serverless": 2,
                  "Windows Workloads": 4, "Generative AI": 2},
    "Public Sector": {"Migration": 5, "Modernization": 4, "Disaster Recovery": 3,
                      "Security & Compliance": 4, "Windows Workloads": 2},
    "Software & Internet": {"Containers": 5, "Serverless": 5, "Generative AI": 5,
                            "Machine Learning": 3, "Data & Analytics": 2, "SAP on AWS": 0.1},
    "Automotive": {"IoT": 5, "High Performance Computing": 4, "Machine Learning": 3,
                   "SAP on AWS": 3},
    "Travel & Hospitality": {"Serverless": 3, "Contact Center": 4, "Data & Analytics": 3,
                             "Generative AI": 3, "Migration": 2},
}
INDUSTRIES = tuple(_INDUSTRY_FOCUS)

_INDUSTRY_WORKLOADS: dict[str, tuple[str, ...]] = {
    "Financial Services": ("core banking", "payments processing", "fraud detection",
                           "trading platform", "risk analytics", "loan origination"),
    "Healthcare": ("electronic health records", "claims processing", "medical imaging",
                   "patient portal", "genomics pipeline"),
    "Retail": ("e-commerce storefront", "inventory management", "point of sale",
               "customer loyalty", "demand forecasting"),
    "Manufacturing": ("manufacturing execution", "supply chain planning", "quality control",
                      "plant maintenance", "product lifecycle management"),
    "Media & Entertainment": ("video streaming", "content rendering", "ad tech",
                              "media asset management", "audience analytics"),
    "Telecommunications": ("billing and charging", "network analytics", "customer care",
                           "5G core", "OSS/BSS"),
    "Energy": ("seismic processing", "grid analytics", "asset monitoring", "energy trading",
               "reservoir simulation"),
    "Education": ("student information system", "learning management", "research computing",
                  "admissions", "campus services"),
    "Public Sector": ("citizen services", "case management", "tax processing",
                      "benefits administration", "records management"),
    "Software & Internet": ("SaaS platform", "developer tooling", "mobile backend",
                            "search and recommendations", "multi-tenant analytics"),
    "Automotive": ("connected car", "autonomous driving simulation", "dealer management",
                   "vehicle telemetry", "parts logistics"),
    "Travel & Hospitality": ("booking engine", "loyalty program", "revenue management",
                             "guest experience", "flight operations"),
}

_INDUSTRY_NAME_SUFFIXES: dict[str, tuple[str, ...]] = {
    "Financial Services": ("Bank", "Financial", "Capital", "Insurance", "Securities"),
    "Healthcare": ("Health", "Medical", "Clinics", "Pharma", "Life Sciences"),
    "Retail": ("Retail", "Stores", "Outfitters", "Market", "Commerce"),
    "Manufacturing": ("Industries", "Manufacturing", "Components", "Machinery", "Materials"),
    "Media & Entertainment": ("Media", "Studios", "Entertainment", "Broadcasting", "Games"),
    "Telecommunications": ("Telecom", "Networks", "Mobile", "Communications", "Connect"),
    "Energy": ("Energy", "Power", "Utilities", "Resources", "Renewables"),
    "Education": ("University", "College", "Academy", "Learning", "Schools"),
    "Public Sector": ("Agency", "Department", "Council", "Authority", "Ministry"),
    "Software & Internet": ("Labs", "Software", "Technologies", "Digital", "AI"),
    "Automotive": ("Motors", "Automotive", "Mobility", "Vehicles", "Auto Parts"),
    "Travel & Hospitality": ("Airlines", "Hotels", "Travel", "Resorts", "Cruises"),
}

_NAME_STEMS = (
    "Apex", "Atlas", "Beacon", "Blue Harbor", "Cedar", "Crescent", "Delta", "Ember",
    "Evergreen", "Falcon", "Granite", "Horizon", "Ironwood", "Lakeside", "Meridian",
    "Northwind", "Nova", "Orion", "Pinnacle", "Pioneer", "Quantum", "Redwood", "Silverline",
    "Sterling", "Summit", "Trident", "Unity", "Vertex", "Willow", "Zenith", "Ashford",
    "Bright Path", "Coral", "Dunmore", "Fairview", "Golden Gate", "Highland", "Juniper",
    "Kestrel", "Lumen",
)
_NAME_MIDDLES = (
    "Global", "National", "United", "First", "Pacific", "Atlantic", "Central", "Union",
    "Royal", "Metro", "Coastal", "Northern", "Southern", "Western", "Eastern",
)
_PARTNERS = (
    "Accenture", "Deloitte", "Capgemini", "DXC Technology", "Rackspace Technology", "Slalom",
    "Cognizant", "Infosys", "Tata Consultancy Services", "Wipro", "NTT DATA", "Kyndryl",
    "Mission Cloud", "2nd Watch", "Presidio", "Caylent", "ClearScale", "Globant", "Softtek",
    "Atos",
)
_MIGRATION_PHASES = (("Assess", 2.0), ("Mobilize", 2.5), ("Migrate", 4.0), ("Modernize", 1.5))
_GOALS = (
    "reduce infrastructure costs by 30%", "exit the data center before the lease ends",
    "improve resilience and recovery times", "meet new regulatory requirements",
    "scale for seasonal peaks", "shorten release cycles from months to weeks",
    "give analysts self-service access to data", "cut licensing spend",
    "improve customer satisfaction scores", "launch new digital products faster",
)
# Services a customer often prepays (reserved capacity, port setup); others never upfront.
_UPFRONT_PROBABILITY = {
    _EC2: 0.35, _RDS: 0.3, "Amazon Redshift": 0.3, "Amazon ElastiCache": 0.2,
    "Amazon OpenSearch Service": 0.2, _DX: 0.3, "Amazon Elastic VMware Service": 0.3,
    "Amazon Aurora": 0.15,
}
_SCOPE_SENTENCES = (
    "The scope covers {workload} and {count} supporting applications.",
    "The first wave includes {workload} and its integrations across {sites} sites.",
    "Workloads in scope support {workload} at {sites} sites in {country}.",
    "The program starts with {workload}, followed by adjacent systems.",
)
_GOAL_SENTENCES = (
    "The customer aims to {goal}.",
    "Leadership expects the project to {goal}.",
    "Success is measured by the ability to {goal}.",
)
_NAME_TEMPLATES = (
    "{customer} {workload_title} {activity}",
    "{customer} - {activity} Wave {wave}",
    "{workload_title} {activity} ({customer})",
    "{customer} {activity}: {workload_title}",
)
_BUSINESS_SENTENCES = (
    "{customer} is a {size} {industry} organisation headquartered in {country} with about "
    "{employees} employees.",
    "It operates {sites} sites and relies on {workload} for day-to-day operations.",
    "The IT team is consolidating vendors and prefers managed services.",
)
# fmt: on

# ---------------------------------------------------------------- generator

_DAY_S = 86_400
_FIRST_CLOSE = int(datetime(2019, 1, 1, tzinfo=UTC).timestamp())
_CLOSE_DAYS = (datetime(2025, 12, 31, tzinfo=UTC) - datetime(2019, 1, 1, tzinfo=UTC)).days + 1


class _Picker:
    """Weighted choice with the cumulative weights computed once."""

    def __init__(self, weighted: Sequence[tuple[str, float]]) -> None:
        self.values = [value for value, weight in weighted if weight > 0]
        self.cumulative = list(accumulate(weight for _, weight in weighted if weight > 0))

    def __call__(self, rng: random.Random) -> str:
        return rng.choices(self.values, cum_weights=self.cumulative)[0]


@dataclass(frozen=True)
class _Customer:
    name: str
    segment: str
    industry: str
    country: str
    sub_region: str
    employees: int


@dataclass(frozen=True)
class _Pickers:
    segment: _Picker
    country: _Picker
    industry_by_segment: dict[str, _Picker]
    activity_by_industry: dict[str, _Picker]
    phase: _Picker


def _pickers() -> _Pickers:
    by_segment = {
        segment: _Picker([(i, _SEGMENT_INDUSTRY.get(segment, {}).get(i, 1.0)) for i in INDUSTRIES])
        for segment in SEGMENTS
    }
    by_industry = {
        industry: _Picker([(a, focus.get(a, 1.0)) for a in ACTIVITY_NAMES])
        for industry, focus in _INDUSTRY_FOCUS.items()
    }
    return _Pickers(
        segment=_Picker([(s, p.customer_share) for s, p in SEGMENTS.items()]),
        country=_Picker([(c, g.weight) for c, g in COUNTRY_GEO.items()]),
        industry_by_segment=by_segment,
        activity_by_industry=by_industry,
        phase=_Picker(_MIGRATION_PHASES),
    )


def _customer_name(rng: random.Random, industry: str, taken: set[str]) -> str:
    suffixes = _INDUSTRY_NAME_SUFFIXES[industry]
    name = ""
    for attempt in range(50):
        parts = [rng.choice(_NAME_STEMS)]
        if attempt > 3 or rng.random() < 0.4:
            parts.append(rng.choice(_NAME_MIDDLES))
        parts.append(rng.choice(suffixes))
        name = " ".join(parts)
        if name not in taken:
            return name
    return f"{name} {len(taken)}"  # only when the name space is exhausted


def _customers(rng: random.Random, count: int, pickers: _Pickers) -> list[_Customer]:
    taken: set[str] = set()
    customers = []
    for _ in range(count):
        segment = pickers.segment(rng)
        industry = pickers.industry_by_segment[segment](rng)
        country = pickers.country(rng)
        name = _customer_name(rng, industry, taken)
        taken.add(name)
        sub_region = rng.choice(COUNTRY_GEO[country].sub_regions)
        employees = round(SEGMENTS[segment].employees * rng.uniform(0.4, 2.5))
        customers.append(_Customer(name, segment, industry, country, sub_region, employees))
    return customers


def _services(rng: random.Random, activity: _Activity, scale: float) -> list[tuple[str, int, int]]:
    """(name, monthly, upfront) in whole dollars, in the activity's order (primary first)."""
    chosen = []
    for service in activity.services:
        if rng.random() >= service.probability:
            continue
        monthly = max(1, round(service.median_monthly * scale * rng.lognormvariate(0.0, 0.55)))
        upfront = 0
        if rng.random() < _UPFRONT_PROBABILITY.get(service.name, 0.0):
            upfront = round(monthly * rng.uniform(3.0, 9.0))
        chosen.append((service.name, monthly, upfront))
    if not chosen:  # a project always uses at least its activity's primary service
        primary = activity.services[0]
        chosen.append((primary.name, max(1, round(primary.median_monthly * scale)), 0))
    return chosen[:SERVICE_SLOTS]


def _slots(
    rng: random.Random,
    customer: _Customer,
    activity_name: str,
    services: Sequence[tuple[str, int, int]],
) -> dict[str, object]:
    activity = _ACTIVITIES[activity_name]
    segment = SEGMENTS[customer.segment]
    workload = rng.choice(_INDUSTRY_WORKLOADS[customer.industry])
    return {
        "customer": customer.name,
        "activity": activity_name,
        "tech": rng.choice(activity.techs),
        "workload": workload,
        "workload_title": workload[:1].upper() + workload[1:],
        "svc1": services[0][0],
        "svc2": services[1][0] if len(services) > 1 else services[0][0],
        "count": rng.choice((12, 25, 40, 60, 85, 120, 200, 350, 600, 1200)),
        "goal": rng.choice(_GOALS),
        "hours": rng.choice((1, 2, 4, 8, 24)),
        "wave": rng.randint(1, 4),
        "employees": f"{customer.employees:,}",
        "size": segment.adjective,
        "industry": customer.industry.lower(),
        "country": _with_article(customer.country),
        "sites": rng.randint(2, 60),
    }


def _with_article(country: str) -> str:
    plural_or_union = country.startswith("United ") or country == "Netherlands"
    return f"the {country}" if plural_or_union else country


def _texts(
    rng: random.Random, slots: dict[str, object], activity_name: str
) -> tuple[str, str, str]:
    """(opportunity_name, description, business_description)."""
    templates = _ACTIVITIES[activity_name].templates
    description = " ".join(
        (
            rng.choice(templates).format(**slots),
            rng.choice(_SCOPE_SENTENCES).format(**slots),
            rng.choice(_GOAL_SENTENCES).format(**slots),
        )
    )
    name = rng.choice(_NAME_TEMPLATES).format(**slots)
    extra = [s for s in _BUSINESS_SENTENCES[1:] if rng.random() < 0.5]
    business = " ".join(s.format(**slots) for s in (_BUSINESS_SENTENCES[0], *extra))
    return name, description, business


def _dates(rng: random.Random, activity: _Activity) -> tuple[int, int, int]:
    close = _FIRST_CLOSE + rng.randrange(_CLOSE_DAYS) * _DAY_S
    start = close + rng.randint(7, 90) * _DAY_S
    low, high = activity.months
    end = start + max(1, round(rng.uniform(low, high) * 30.4)) * _DAY_S
    return close, start, end


def _row(
    rng: random.Random, index: int, customer: _Customer, pickers: _Pickers
) -> dict[str, object]:
    activity_name = pickers.activity_by_industry[customer.industry](rng)
    activity = _ACTIVITIES[activity_name]
    scale = SEGMENTS[customer.segment].cost_scale * rng.lognormvariate(0.0, 0.45)
    services = _services(rng, activity, scale)
    name, description, business = _texts(
        rng, _slots(rng, customer, activity_name, services), activity_name
    )
    close, start, end = _dates(rng, activity)
    services.sort(key=lambda item: (-item[1], item[0]))  # slot 1 is the largest spend
    phased = activity.phased and rng.random() < 0.85
    row: dict[str, object] = {
        "opportunity_id": f"OPP-{index + 1:06d}",
        "customer_name": customer.name,
        "customer_segment": customer.segment,
        "industry": customer.industry,
        "partner_name": rng.choice(_PARTNERS) if rng.random() < 0.55 else "",
        "opportunity_name": name,
        "description": description,
        "business_description": business,
        "activity_name": activity_name,
        "migration_phase": pickers.phase(rng) if phased else "",
        "region": COUNTRY_GEO[customer.country].region,
        "sub_region": customer.sub_region,
        "country": customer.country,
        "close_date": close,
        "planned_delivery_start_date": start,
        "planned_delivery_end_date": end,
        "annual_run_rate_usd": float(
            sum(12 * monthly + upfront for _, monthly, upfront in services)
        ),
    }
    for slot, (service, monthly, upfront) in enumerate(services, start=1):
        row[f"service{slot}_name"] = service
        row[f"service{slot}_monthly_cost"] = float(monthly)
        row[f"service{slot}_upfront_cost"] = float(upfront)
    return row


def _schema() -> pa.Schema:
    def kind(column: str) -> pa.DataType:
        if column in DATE_COLUMNS:
            return pa.int64()
        if column in COST_COLUMNS:
            return pa.float64()
        return pa.string()

    return pa.schema([(column, kind(column)) for column in COLUMNS])


def generate_rows(count: int, seed: int) -> pa.Table:
    """``count`` projects; the same (count, seed) always gives an identical table."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    rng = random.Random(seed)
    pickers = _pickers()
    customers = _customers(rng, min(2_000, max(10, count // 10)), pickers)
    cumulative = list(accumulate(SEGMENTS[c.segment].project_weight for c in customers))
    columns: dict[str, list[object]] = {column: [] for column in COLUMNS}
    for index in range(count):
        customer = rng.choices(customers, cum_weights=cumulative)[0]
        row = _row(rng, index, customer, pickers)
        for column, values in columns.items():
            values.append(row.get(column))
    return pa.table(columns, schema=_schema())


# ---------------------------------------------------------------- Parquet file

_METADATA_KEYS = (b"oppsuite.dataset_version", b"oppsuite.rows", b"oppsuite.seed")


def _expected_metadata(rows: int, seed: int) -> dict[bytes, bytes]:
    values = (DATASET_VERSION, str(rows), str(seed))
    return {key: value.encode() for key, value in zip(_METADATA_KEYS, values, strict=True)}


def _stored_metadata(path: Path) -> dict[bytes, bytes] | None:
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None  # missing, truncated or not Parquet: regenerate
    return {key: metadata.get(key, b"") for key in _METADATA_KEYS}


def ensure_dataset(path: Path, rows: int = 30_000, seed: int = 20240601) -> Path:
    """Write the dataset to ``path`` unless a file of this version, size and seed is there.

    The file appears atomically (temp file in the same directory, then ``os.replace``),
    so concurrent processes never read a partial file; at worst both generate it.
    """
    expected = _expected_metadata(rows, seed)
    if _stored_metadata(path) == expected:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    table = generate_rows(rows, seed).replace_schema_metadata(expected)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, temp_name, compression="zstd")
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path
